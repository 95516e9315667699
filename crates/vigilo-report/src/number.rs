//! Number formatting per language.
//!
//! Vietnamese writes a comma as the decimal separator and a dot between thousands
//! (`1.234,5`); English the reverse (`1,234.5`). Charts use this for their tick labels;
//! callers use it for table cells so a report reads the same in every format.

use crate::Lang;

/// Formats `value` with exactly `decimals` digits after the separator, grouping thousands.
/// Non-finite values are written as an en dash, the usual mark for "no value".
pub fn format_number(value: f64, decimals: usize, lang: Lang) -> String {
    if !value.is_finite() {
        return "–".to_string();
    }
    let (decimal_sep, group_sep) = match lang {
        Lang::Vi => (',', '.'),
        Lang::En => ('.', ','),
    };
    let plain = format!("{:.*}", decimals, value.abs());
    let (int_part, frac_part) = match plain.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (plain.as_str(), None),
    };
    let mut out = String::with_capacity(plain.len() + plain.len() / 3 + 1);
    // "-0" after rounding is written as "0".
    let is_zero = plain.bytes().all(|b| b == b'0' || b == b'.');
    if value.is_sign_negative() && !is_zero {
        out.push('-');
    }
    let digits = int_part.len();
    for (i, ch) in int_part.chars().enumerate() {
        if i > 0 && (digits - i) % 3 == 0 {
            out.push(group_sep);
        }
        out.push(ch);
    }
    if let Some(frac) = frac_part {
        out.push(decimal_sep);
        out.push_str(frac);
    }
    out
}

/// A proportion as a percentage, e.g. `0.874` → `87,4%` in Vietnamese.
pub fn format_percent(proportion: f64, decimals: usize, lang: Lang) -> String {
    if !proportion.is_finite() {
        return "–".to_string();
    }
    format!("{}%", format_number(proportion * 100.0, decimals, lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_uses_comma_decimal_and_dot_grouping() {
        assert_eq!(format_number(1234567.891, 2, Lang::Vi), "1.234.567,89");
        assert_eq!(format_number(0.5, 1, Lang::Vi), "0,5");
        assert_eq!(format_number(-1234.0, 0, Lang::Vi), "-1.234");
        assert_eq!(format_percent(0.874, 1, Lang::Vi), "87,4%");
    }

    #[test]
    fn english_uses_dot_decimal_and_comma_grouping() {
        assert_eq!(format_number(1234567.891, 2, Lang::En), "1,234,567.89");
        assert_eq!(format_number(999.0, 0, Lang::En), "999");
        assert_eq!(format_number(1000.0, 0, Lang::En), "1,000");
        assert_eq!(format_number(-0.0001, 2, Lang::En), "0.00");
        assert_eq!(format_number(f64::NAN, 2, Lang::En), "–");
    }
}
