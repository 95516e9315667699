//! RFC 8785 JSON Canonicalization Scheme (JCS) over `serde_json::Value`.
//!
//! The canonical form of a JSON value is what federation signatures cover (see
//! `docs/federation.md`): object members sorted by the UTF-16 code units of their names,
//! no insignificant white space, strings escaped as ECMAScript's `JSON.stringify` does, and
//! numbers written as ECMAScript's `Number.prototype.toString` writes a double.
//!
//! Written here rather than taken from a crate: the three on crates.io (`serde_jcs`,
//! `serde_json_canonicalizer`, `json-canon`) each add `ryu-js`, which is not in the
//! lockfile, for what is some 150 lines over the `Value` serde_json already gives us.
//!
//! What `serde_json::Value` holds bounds what this accepts:
//! - Floats are finite (serde_json cannot hold NaN or infinities).
//! - Integers up to 2^53 in magnitude are written as they are. A larger integer (which
//!   serde_json keeps as `u64`/`i64`, where ECMAScript would read the nearest double) is
//!   accepted only when the nearest double's canonical form is the integer's own text
//!   (`4208725862827962000`), and refused with [`JcsError::IntegerTooLarge`] when it would
//!   change (`2^60` would become `1152921504606847000`), so that what is signed is never
//!   silently different from what the signer held.
//! - Strings are valid Unicode (serde_json refuses lone surrogates when parsing).

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::fmt::Write as _;

/// 2^53: the largest magnitude up to which every integer is exactly a double.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// A value that has no canonical form under RFC 8785 as restricted here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JcsError {
    #[error(
        "the integer {0} is larger than 2^53 and would change when read as an IEEE 754 double"
    )]
    IntegerTooLarge(String),
    #[error("a number is not finite")]
    NotFinite,
}

/// The canonical form of `value` as a UTF-8 string.
pub fn canonicalize(value: &Value) -> Result<String, JcsError> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out)
}

/// The canonical form of `value` as bytes (what signatures cover).
pub fn canonical_bytes(value: &Value) -> Result<Vec<u8>, JcsError> {
    canonicalize(value).map(String::into_bytes)
}

fn write_value(value: &Value, out: &mut String) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out)?,
    }
    Ok(())
}

fn write_object(map: &Map<String, Value>, out: &mut String) -> Result<(), JcsError> {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|a, b| utf16_cmp(a.0, b.0));
    out.push('{');
    for (i, (name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(name, out);
        out.push(':');
        write_value(value, out)?;
    }
    out.push('}');
    Ok(())
}

/// Orders strings by their UTF-16 code units, as RFC 8785 section 3.2.3 requires (this
/// differs from Rust's byte order for characters above U+FFFF against U+E000..U+FFFF).
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// JSON string escaping as ECMAScript's `JSON.stringify` does it (RFC 8785 section 3.2.2.2).
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(n: &Number, out: &mut String) -> Result<(), JcsError> {
    if let Some(u) = n.as_u64() {
        return write_integer(u.to_string(), u <= MAX_EXACT_INTEGER, u as f64, out);
    }
    if let Some(i) = n.as_i64() {
        return write_integer(
            i.to_string(),
            i.unsigned_abs() <= MAX_EXACT_INTEGER,
            i as f64,
            out,
        );
    }
    match n.as_f64() {
        Some(f) => write_f64(f, out),
        None => Err(JcsError::NotFinite),
    }
}

/// An integer up to 2^53 is written as it is. Beyond, ECMAScript would read the nearest
/// double and write that double's shortest form; the integer is accepted only when that
/// form is its own text (as for every double in [2^53, 2^64) that serde_json reads back as
/// an integer, which keeps canonicalisation idempotent), and refused when it would change.
fn write_integer(
    text: String,
    small: bool,
    nearest: f64,
    out: &mut String,
) -> Result<(), JcsError> {
    if !small {
        let mut as_double = String::new();
        write_f64(nearest, &mut as_double)?;
        if as_double != text {
            return Err(JcsError::IntegerTooLarge(text));
        }
    }
    out.push_str(&text);
    Ok(())
}

/// ECMAScript `Number::toString(x)` for a finite double (ECMA-262, 7.1.12.1), which RFC
/// 8785 section 3.2.2.3 adopts. Rust's `{:e}` gives the shortest digit string that reads
/// back as the same double (the closest such one), which is the `s` of that algorithm.
pub fn write_f64(f: f64, out: &mut String) -> Result<(), JcsError> {
    if !f.is_finite() {
        return Err(JcsError::NotFinite);
    }
    if f == 0.0 {
        // Both +0 and -0.
        out.push('0');
        return Ok(());
    }
    if f < 0.0 {
        out.push('-');
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').ok_or(JcsError::NotFinite)?;
    let exp: i32 = exp.parse().map_err(|_| JcsError::NotFinite)?;
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    even_on_tie(f.abs(), exp, &mut digits);
    // x = 0.d1d2…dk × 10^n
    let k = digits.len() as i32;
    let n = exp + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let e = n - 1;
        let sign = if e >= 0 { '+' } else { '-' };
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(out, "e{sign}{}", e.unsigned_abs());
    }
    Ok(())
}

/// ECMA-262 (7.1.12.1, note 2) asks that when two shortest digit strings are equally close
/// to the double, the even one is chosen; Rust's shortest formatting rounds such a tie up
/// (RFC 8785 Appendix B's `1424953923781206.2` is the case). A tie needs the exact decimal
/// expansion of the double to be the k shortest digits plus one more `5`, which only
/// happens for long digit strings, so the exact expansion is only computed then.
fn even_on_tie(abs: f64, exp: i32, digits: &mut String) {
    let k = digits.len();
    if k < 15 {
        return;
    }
    // A double's exact decimal expansion has at most 767 significant digits.
    let exact = format!("{abs:.800e}");
    let Some((mantissa, exact_exp)) = exact.split_once('e') else {
        return;
    };
    if exact_exp.parse::<i32>().ok() != Some(exp) {
        return;
    }
    let exact_digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let Some((&next, rest)) = exact_digits.get(k..).and_then(<[u8]>::split_first) else {
        return;
    };
    if next != b'5' || rest.iter().any(|&d| d != b'0') {
        return;
    }
    let Some(truncated) = exact_digits.get(..k) else {
        return;
    };
    let last_is_even = |d: &[u8]| d.last().is_some_and(|l| (l - b'0').is_multiple_of(2));
    let candidate: Vec<u8> = if last_is_even(truncated) {
        truncated.to_vec()
    } else {
        // truncated + 1 in the last place; an odd last digit never carries.
        let mut up = truncated.to_vec();
        if let Some(l) = up.last_mut() {
            *l += 1;
        }
        up
    };
    let text = String::from_utf8(candidate).unwrap_or_default();
    // Only if it still reads back as the same double.
    let check = format!("{}.{}e{exp}", &text[..1], &text[1..]);
    if check.parse::<f64>().ok() == Some(abs) {
        *digits = text;
    }
}

/// Parses JSON like `serde_json::from_slice::<Value>`, but refuses an object with two
/// members of the same name (RFC 8785 section 3.1 requires I-JSON, RFC 7493, where names
/// are unique). serde_json would keep the last silently while another implementation may
/// keep the first, and a signature would then not mean the same thing to both.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0)
}

struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::from(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from(u))
    }
    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Value, E> {
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number is not finite"))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate member name '{}'",
                    name.chars().take(60).collect::<String>()
                )));
            }
            let Strict(v) = map.next_value()?;
            members.insert(name, v);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        canonicalize(&serde_json::from_str(text).unwrap()).unwrap()
    }

    /// RFC 8785 section 3.2.2 input; its canonical form is the bytes of section 3.2.4.
    const RFC_SAMPLE: &str = r#"{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"#;

    #[test]
    fn rfc8785_section_3_2_4_bytes() {
        let expected_hex: String = "
            7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
            75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
            5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
            65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
            5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
            30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d"
            .split_whitespace()
            .collect();
        let got = canonical_bytes(&serde_json::from_str(RFC_SAMPLE).unwrap()).unwrap();
        assert_eq!(hex::encode(&got), expected_hex);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn rfc8785_section_3_2_3_sorting_by_utf16_code_units() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let out = canon(input);
        let mut order = vec![
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
            "Carriage Return",
            "Euro Sign",
            "One",
            "Latin Small Letter O With Diaeresis",
            "Control",
        ];
        order.sort_by_key(|v| out.find(v).unwrap());
        assert_eq!(
            order,
            [
                "Carriage Return",
                "One",
                "Control",
                "Latin Small Letter O With Diaeresis",
                "Euro Sign",
                "Emoji: Grinning Face",
                "Hebrew Letter Dalet With Dagesh",
            ]
        );
        // Byte order would put U+FB33 before U+1F600; UTF-16 order puts the surrogate first.
        assert!(out.find('😀').unwrap() < out.find('\u{fb33}').unwrap());
    }

    #[test]
    fn rfc8785_appendix_b_numbers() {
        let vectors = [
            ("0000000000000000", "0"),
            ("8000000000000000", "0"),
            ("0000000000000001", "5e-324"),
            ("8000000000000001", "-5e-324"),
            ("7fefffffffffffff", "1.7976931348623157e+308"),
            ("ffefffffffffffff", "-1.7976931348623157e+308"),
            ("4340000000000000", "9007199254740992"),
            ("c340000000000000", "-9007199254740992"),
            ("4430000000000000", "295147905179352830000"),
            ("44b52d02c7e14af5", "9.999999999999997e+22"),
            ("44b52d02c7e14af6", "1e+23"),
            ("44b52d02c7e14af7", "1.0000000000000001e+23"),
            ("444b1ae4d6e2ef4e", "999999999999999700000"),
            ("444b1ae4d6e2ef4f", "999999999999999900000"),
            ("444b1ae4d6e2ef50", "1e+21"),
            ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
            ("3eb0c6f7a0b5ed8d", "0.000001"),
            ("41b3de4355555553", "333333333.3333332"),
            ("41b3de4355555554", "333333333.33333325"),
            ("41b3de4355555555", "333333333.3333333"),
            ("41b3de4355555556", "333333333.3333334"),
            ("41b3de4355555557", "333333333.33333343"),
            ("becbf647612f3696", "-0.0000033333333333333333"),
            ("43143ff3c1cb0959", "1424953923781206.2"),
        ];
        for (bits, expected) in vectors {
            let f = f64::from_bits(u64::from_str_radix(bits, 16).unwrap());
            let mut out = String::new();
            write_f64(f, &mut out).unwrap();
            assert_eq!(out, expected, "{bits}");
            // Through a Value too, when the double is one serde_json keeps as a float.
            let v = Value::from(f);
            assert_eq!(canonicalize(&v).unwrap(), expected, "{bits} as Value");
            // And the text reads back as the same double.
            assert_eq!(out.parse::<f64>().unwrap(), f.abs().copysign(f), "{bits}");
        }
        // Appendix B's NaN and Infinity have no JSON form.
        for bits in ["7fffffffffffffff", "7ff0000000000000"] {
            let f = f64::from_bits(u64::from_str_radix(bits, 16).unwrap());
            assert_eq!(write_f64(f, &mut String::new()), Err(JcsError::NotFinite));
        }
    }

    #[test]
    fn integers_exact_up_to_2_pow_53_refused_beyond() {
        assert_eq!(
            canon("[0,-1,42,9007199254740992,-9007199254740992]"),
            "[0,-1,42,9007199254740992,-9007199254740992]"
        );
        assert!(matches!(
            canonicalize(&json!(9_007_199_254_740_993u64)),
            Err(JcsError::IntegerTooLarge(_))
        ));
        assert!(matches!(
            canonicalize(&json!(u64::MAX)),
            Err(JcsError::IntegerTooLarge(_))
        ));
        // 2^60 is a double, but its canonical form is 1152921504606847000: refused.
        assert!(matches!(
            canonicalize(&json!(1u64 << 60)),
            Err(JcsError::IntegerTooLarge(_))
        ));
        // A double's canonical form read back as an integer is accepted, unchanged.
        assert_eq!(canon("1152921504606847000"), "1152921504606847000");
        assert_eq!(canon("-4208725862827962000"), "-4208725862827962000");
        assert_eq!(
            canonicalize(&json!(-4.208725862827962e18)).unwrap(),
            "-4208725862827962000"
        );
        assert!(matches!(
            canonicalize(&json!(-9_007_199_254_740_993i64)),
            Err(JcsError::IntegerTooLarge(_))
        ));
        // A large number written with an exponent or a fraction is a double, as in ECMAScript.
        assert_eq!(
            canon("[1e21, 1E2, 20000000000000000000000.0]"),
            "[1e+21,100,2e+22]"
        );
    }

    #[test]
    fn escapes_and_nesting() {
        assert_eq!(
            canonicalize(&json!(["\u{1}\t\"\\", "\u{7f}\u{2028}é"])).unwrap(),
            "[\"\\u0001\\t\\\"\\\\\",\"\u{7f}\u{2028}é\"]"
        );
        assert_eq!(
            canon(r#"{ "b": [3, {"z": 1, "a": 2}], "a": {"y": null, "x": true} }"#),
            r#"{"a":{"x":true,"y":null},"b":[3,{"a":2,"z":1}]}"#
        );
        assert_eq!(canon("{}"), "{}");
        assert_eq!(canon("[]"), "[]");
        assert_eq!(canon(r#""""#), r#""""#);
    }

    #[test]
    fn strict_parsing_refuses_duplicate_names() {
        assert!(parse_strict(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_strict(br#"[{"x":{"b":1,"c":2,"b":3}}]"#).is_err());
        // serde_json alone keeps the last one silently.
        assert_eq!(
            serde_json::from_slice::<Value>(br#"{"a":1,"a":2}"#).unwrap(),
            json!({"a": 2})
        );
        assert_eq!(
            parse_strict(RFC_SAMPLE.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(RFC_SAMPLE).unwrap()
        );
        assert!(parse_strict(b"[1,").is_err());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53)..=(1i64 << 53)).prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("\\PC{0,8}", inner), 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn idempotent_and_reparses_to_the_same_form(v in arb_json()) {
            let once = canonicalize(&v).unwrap();
            let back: Value = serde_json::from_str(&once).unwrap();
            prop_assert_eq!(canonicalize(&back).unwrap(), once);
        }

        #[test]
        fn strict_parsing_agrees_with_serde_json(v in arb_json()) {
            let text = serde_json::to_vec(&v).unwrap();
            prop_assert_eq!(
                parse_strict(&text).unwrap(),
                serde_json::from_slice::<Value>(&text).unwrap()
            );
        }

        #[test]
        fn independent_of_member_order(
            members in prop::collection::vec(("\\PC{0,8}", any::<i32>()), 0..10),
        ) {
            let forward: Map<String, Value> =
                members.iter().map(|(k, v)| (k.clone(), Value::from(*v))).collect();
            // serde_json's Map is sorted by byte order; build the text by hand in reverse
            // insertion order so that the input order really differs.
            let mut text = String::from("{");
            for (i, (k, v)) in forward.iter().rev().enumerate() {
                if i > 0 { text.push(','); }
                text.push_str(&serde_json::to_string(k).unwrap());
                text.push(':');
                text.push_str(&v.to_string());
            }
            text.push('}');
            let reversed: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(
                canonicalize(&Value::Object(forward)).unwrap(),
                canonicalize(&reversed).unwrap()
            );
        }

        #[test]
        fn doubles_read_back_exactly(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            let mut out = String::new();
            write_f64(f, &mut out).unwrap();
            let back: f64 = out.parse().unwrap();
            prop_assert!(back == f || (back == 0.0 && f == 0.0));
        }
    }
}
