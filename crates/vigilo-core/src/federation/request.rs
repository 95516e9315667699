//! Signed requests for members-only items: a subset of RFC 9421 (HTTP Message Signatures)
//! with Ed25519, and RFC 9530's `Content-Digest` for bodies.
//!
//! A peer fetching `/federation/v1/feed` signs its request:
//!
//! ```text
//! Signature-Input: vigilo=("@method" "@authority" "@path" "@query");created=1796612400;keyid="…32 hex…";nonce="…";alg="ed25519"
//! Signature: vigilo=:…base64…:
//! ```
//!
//! Covered: `@method`, `@authority`, `@path`, `@query` when the request has a query, and
//! `content-digest` when it has a body. Parameters: `created` (seconds since the epoch),
//! `keyid` (a pinned key id, never fetched), `nonce` (from the caller's random source) and
//! `alg="ed25519"`. The server accepts a request only when the key is pinned, `created` is
//! within the allowed clock skew of its own time, the digest matches the body, the signature
//! verifies, and the nonce was not seen before (the store keeps nonces for twice the skew;
//! the check is passed in, so this module stays pure).
//!
//! The signature base is built exactly as RFC 9421 section 2.5 says; a test reproduces the
//! RFC's Appendix B.2.6 example (Ed25519) byte for byte.

use super::identity::{CountryCode, KeyId, NodeKeys, PublicKey};
use super::item::PinnedKeys;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};
use std::fmt::Write as _;
use time::{Duration, OffsetDateTime};

/// The signature label Vigilo nodes use.
pub const SIGNATURE_LABEL: &str = "vigilo";
/// The only algorithm accepted.
pub const ALGORITHM: &str = "ed25519";
const MIN_NONCE: usize = 16;
const MAX_NONCE: usize = 128;
const MAX_HEADER: usize = 4096;

/// A covered component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    Method,
    Authority,
    Path,
    Query,
    /// An HTTP field, by its lower-case name.
    Field(String),
}

impl Component {
    pub fn name(&self) -> &str {
        match self {
            Component::Method => "@method",
            Component::Authority => "@authority",
            Component::Path => "@path",
            Component::Query => "@query",
            Component::Field(f) => f,
        }
    }

    fn parse(name: &str) -> Result<Component, RequestError> {
        Ok(match name {
            "@method" => Component::Method,
            "@authority" => Component::Authority,
            "@path" => Component::Path,
            "@query" => Component::Query,
            n if n.starts_with('@') => {
                return Err(RequestError::Malformed(format!(
                    "derived component '{n}' is not supported"
                )))
            }
            n if !n.is_empty()
                && n.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)
                }) =>
            {
                Component::Field(n.to_owned())
            }
            n => {
                return Err(RequestError::Malformed(format!(
                    "'{}' is not a lower-case field name",
                    n.chars().take(40).collect::<String>()
                )))
            }
        })
    }
}

/// A parameter value: RFC 8941 integer or string (the only kinds used here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Integer(i64),
    String(String),
}

/// The signature parameters, in order (their order is part of the signature base).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureParams(pub Vec<(String, ParamValue)>);

impl SignatureParams {
    fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// The parts of an HTTP request that signatures cover. The server fills it from the request
/// it received (authority from the `Host` header or the HTTP/2 `:authority`), the client
/// from the request it is about to send.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub authority: &'a str,
    /// The absolute path, without the query.
    pub path: &'a str,
    /// The query without its `?`; `None` when the target has no `?`.
    pub query: Option<&'a str>,
    /// Header fields, names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Why a request signature could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the request has no {0} header")]
    MissingHeader(&'static str),
    #[error("the request has no signature labelled '{SIGNATURE_LABEL}'")]
    MissingSignature,
    #[error("malformed signature header: {0}")]
    Malformed(String),
    #[error("the signature does not cover '{0}'")]
    NotCovered(&'static str),
    #[error("the signature parameter '{0}' is missing or of the wrong type")]
    MissingParam(&'static str),
    #[error("unsupported signature algorithm '{0}' (only ed25519)")]
    Algorithm(String),
    #[error(
        "the nonce must be {MIN_NONCE} to {MAX_NONCE} characters of letters, digits, '-' or '_'"
    )]
    Nonce,
    #[error("signed by key {0}, which is not pinned")]
    UnknownKey(String),
    #[error(
        "the signature was created at {created}, more than the allowed skew before now ({now})"
    )]
    Stale { created: i64, now: i64 },
    #[error(
        "the signature was created at {created}, more than the allowed skew after now ({now})"
    )]
    FromTheFuture { created: i64, now: i64 },
    #[error("the Content-Digest does not match the body")]
    DigestMismatch,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the nonce was already used: replayed request")]
    Replayed,
    #[error("the covered field '{0}' is not in the request")]
    MissingField(String),
}

fn header_values<'a>(req: &'a HttpRequest<'_>, name: &str) -> Vec<&'a str> {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .collect()
}

fn component_value(req: &HttpRequest<'_>, c: &Component) -> Result<String, RequestError> {
    Ok(match c {
        Component::Method => req.method.to_owned(),
        Component::Authority => req.authority.to_ascii_lowercase(),
        Component::Path => {
            if req.path.is_empty() {
                "/".to_owned()
            } else {
                req.path.to_owned()
            }
        }
        Component::Query => format!("?{}", req.query.unwrap_or("")),
        Component::Field(name) => {
            let values = header_values(req, name);
            if values.is_empty() {
                return Err(RequestError::MissingField(name.clone()));
            }
            values
                .iter()
                .map(|v| v.trim())
                .collect::<Vec<_>>()
                .join(", ")
        }
    })
}

fn write_sf_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The `@signature-params` value: the inner list of component names and the parameters.
pub fn signature_params_value(components: &[Component], params: &SignatureParams) -> String {
    let mut out = String::from("(");
    for (i, c) in components.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_sf_string(c.name(), &mut out);
    }
    out.push(')');
    for (name, value) in &params.0 {
        out.push(';');
        out.push_str(name);
        out.push('=');
        match value {
            ParamValue::Integer(n) => {
                let _ = write!(out, "{n}");
            }
            ParamValue::String(s) => write_sf_string(s, &mut out),
        }
    }
    out
}

/// The signature base of RFC 9421 section 2.5.
pub fn signature_base(
    req: &HttpRequest<'_>,
    components: &[Component],
    params: &SignatureParams,
) -> Result<String, RequestError> {
    let mut out = String::new();
    for c in components {
        let value = component_value(req, c)?;
        if value.contains(['\n', '\r']) {
            return Err(RequestError::Malformed(format!(
                "the value of '{}' contains a line break",
                c.name()
            )));
        }
        write_sf_string(c.name(), &mut out);
        out.push_str(": ");
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str("\"@signature-params\": ");
    out.push_str(&signature_params_value(components, params));
    Ok(out)
}

/// The `Content-Digest` value for a body: `sha-256=:…:` (RFC 9530).
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// Whether a `Content-Digest` value matches the body: every digest in it of an algorithm
/// known here (sha-256, sha-512) must match, and there must be at least one.
pub fn content_digest_matches(header: &str, body: &[u8]) -> Result<bool, RequestError> {
    let mut known = 0;
    for (alg, value) in parse_dictionary(header)? {
        let SfValue::Bytes(bytes) = value.value else {
            return Err(RequestError::Malformed(
                "Content-Digest members must be byte sequences".into(),
            ));
        };
        let expected: Vec<u8> = match alg.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        known += 1;
        if bytes != expected {
            return Ok(false);
        }
    }
    Ok(known > 0)
}

/// The headers a signed request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    pub signature_input: String,
    pub signature: String,
    /// Set when the request has a body.
    pub content_digest: Option<String>,
}

fn check_nonce(nonce: &str) -> Result<(), RequestError> {
    if (MIN_NONCE..=MAX_NONCE).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(RequestError::Nonce)
    }
}

/// The components Vigilo's profile covers for a request.
fn profile_components(req: &HttpRequest<'_>) -> Vec<Component> {
    let mut c = vec![Component::Method, Component::Authority, Component::Path];
    if req.query.is_some() {
        c.push(Component::Query);
    }
    if !req.body.is_empty() {
        c.push(Component::Field("content-digest".into()));
    }
    c
}

/// Signs a request as this node. `created` is the caller's clock in seconds since the
/// epoch; `nonce` comes from the caller's random source (16 to 128 characters of
/// base64url, e.g. 16 random bytes encoded).
pub fn sign_request(
    keys: &NodeKeys,
    req: &HttpRequest<'_>,
    created: i64,
    nonce: &str,
) -> Result<SignatureHeaders, RequestError> {
    check_nonce(nonce)?;
    let digest = (!req.body.is_empty()).then(|| content_digest(req.body));
    let mut headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("content-digest"))
        .copied()
        .collect();
    if let Some(d) = &digest {
        headers.push(("content-digest", d));
    }
    let with_digest = HttpRequest {
        headers: &headers,
        ..*req
    };
    let components = profile_components(req);
    let params = SignatureParams(vec![
        ("created".into(), ParamValue::Integer(created)),
        (
            "keyid".into(),
            ParamValue::String(keys.key_id().to_string()),
        ),
        ("nonce".into(), ParamValue::String(nonce.to_owned())),
        ("alg".into(), ParamValue::String(ALGORITHM.into())),
    ]);
    let base = signature_base(&with_digest, &components, &params)?;
    let signature = keys.sign(base.as_bytes());
    Ok(SignatureHeaders {
        signature_input: format!(
            "{SIGNATURE_LABEL}={}",
            signature_params_value(&components, &params)
        ),
        signature: format!("{SIGNATURE_LABEL}=:{}:", STANDARD.encode(signature)),
        content_digest: digest,
    })
}

/// Remembers nonces: returns `true` the first time it sees a (key, nonce) pair and `false`
/// after. The server keeps them (in the database, for twice the allowed skew).
pub trait NonceCheck {
    fn first_use(&mut self, key_id: &KeyId, nonce: &str, created: i64) -> bool;
}

impl<F: FnMut(&KeyId, &str, i64) -> bool> NonceCheck for F {
    fn first_use(&mut self, key_id: &KeyId, nonce: &str, created: i64) -> bool {
        self(key_id, nonce, created)
    }
}

/// A request whose signature verified: who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    pub key_id: KeyId,
    pub country: CountryCode,
    pub created: i64,
}

fn one_header<'a>(req: &'a HttpRequest<'_>, name: &'static str) -> Result<&'a str, RequestError> {
    match header_values(req, name).as_slice() {
        [] => Err(RequestError::MissingHeader(name)),
        [v] if v.len() <= MAX_HEADER => Ok(v),
        [_] => Err(RequestError::Malformed(format!("{name} is too long"))),
        _ => Err(RequestError::Malformed(format!(
            "{name} appears more than once"
        ))),
    }
}

/// Verifies a request signed with Vigilo's profile. `now` is the server's clock;
/// `max_skew` bounds how far `created` may be from it either way; `nonces` is asked last,
/// only for requests whose signature verified, so that forged requests cannot fill it.
pub fn verify_request(
    req: &HttpRequest<'_>,
    keys: &impl PinnedKeys,
    now: OffsetDateTime,
    max_skew: Duration,
    nonces: &mut impl NonceCheck,
) -> Result<VerifiedRequest, RequestError> {
    let input = one_header(req, "signature-input")?;
    let signature = one_header(req, "signature")?;
    let (components, params) = parse_signature_input(input, SIGNATURE_LABEL)?;
    let signature = parse_signature(signature, SIGNATURE_LABEL)?;

    let covers = |c: &Component| components.contains(c);
    for (needed, name) in [
        (Component::Method, "@method"),
        (Component::Authority, "@authority"),
        (Component::Path, "@path"),
    ] {
        if !covers(&needed) {
            return Err(RequestError::NotCovered(name));
        }
    }
    if req.query.is_some() && !covers(&Component::Query) {
        return Err(RequestError::NotCovered("@query"));
    }
    if !req.body.is_empty() && !covers(&Component::Field("content-digest".into())) {
        return Err(RequestError::NotCovered("content-digest"));
    }
    for (i, c) in components.iter().enumerate() {
        if components[..i].contains(c) {
            return Err(RequestError::Malformed(format!(
                "'{}' is covered twice",
                c.name()
            )));
        }
    }
    for (name, _) in &params.0 {
        if !["created", "keyid", "nonce", "alg"].contains(&name.as_str()) {
            return Err(RequestError::Malformed(format!(
                "unexpected signature parameter '{name}'"
            )));
        }
    }
    let Some(ParamValue::Integer(created)) = params.get("created") else {
        return Err(RequestError::MissingParam("created"));
    };
    let created = *created;
    let Some(ParamValue::String(keyid)) = params.get("keyid") else {
        return Err(RequestError::MissingParam("keyid"));
    };
    let Some(ParamValue::String(nonce)) = params.get("nonce") else {
        return Err(RequestError::MissingParam("nonce"));
    };
    match params.get("alg") {
        Some(ParamValue::String(a)) if a == ALGORITHM => {}
        Some(ParamValue::String(a)) => return Err(RequestError::Algorithm(a.clone())),
        _ => return Err(RequestError::MissingParam("alg")),
    }
    check_nonce(nonce)?;
    let key_id: KeyId = keyid
        .parse()
        .map_err(|_| RequestError::UnknownKey(keyid.chars().take(40).collect()))?;
    let pinned = keys
        .pinned(&key_id)
        .filter(|p| p.key.key_id() == key_id)
        .ok_or_else(|| RequestError::UnknownKey(key_id.to_string()))?;
    let now_s = now.unix_timestamp();
    let skew = max_skew.whole_seconds();
    if created < now_s.saturating_sub(skew) {
        return Err(RequestError::Stale {
            created,
            now: now_s,
        });
    }
    if created > now_s.saturating_add(skew) {
        return Err(RequestError::FromTheFuture {
            created,
            now: now_s,
        });
    }
    if covers(&Component::Field("content-digest".into())) {
        let digest = one_header(req, "content-digest")?;
        if !content_digest_matches(digest, req.body)? {
            return Err(RequestError::DigestMismatch);
        }
    }
    let base = signature_base(req, &components, &params)?;
    if !verify_base(&pinned.key, &base, &signature) {
        return Err(RequestError::BadSignature);
    }
    if !nonces.first_use(&key_id, nonce, created) {
        return Err(RequestError::Replayed);
    }
    Ok(VerifiedRequest {
        key_id,
        country: pinned.country,
        created,
    })
}

/// Verifies an Ed25519 signature over a signature base.
pub fn verify_base(key: &PublicKey, base: &str, signature: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    key.verify(base.as_bytes(), &sig)
}

// ---- A strict parser for the RFC 8941 dictionaries used here ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum SfValue {
    Integer(i64),
    String(String),
    Token(String),
    Bytes(Vec<u8>),
    InnerList(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SfMember {
    value: SfValue,
    params: Vec<(String, ParamValue)>,
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

fn bad(what: &str) -> RequestError {
    RequestError::Malformed(what.to_owned())
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_sp(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn key(&mut self) -> Result<String, RequestError> {
        let start = self.i;
        match self.peek() {
            Some(b) if b.is_ascii_lowercase() || b == b'*' => self.i += 1,
            _ => return Err(bad("expected a key")),
        }
        while let Some(b) = self.peek() {
            if b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b) {
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn string(&mut self) -> Result<String, RequestError> {
        if !self.eat(b'"') {
            return Err(bad("expected a string"));
        }
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(bad("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c as char);
                            self.i += 1;
                        }
                        _ => return Err(bad("bad escape in string")),
                    }
                }
                Some(c @ 0x20..=0x7e) => {
                    out.push(c as char);
                    self.i += 1;
                }
                Some(_) => return Err(bad("string with a character outside printable ASCII")),
            }
        }
    }
    fn integer(&mut self) -> Result<i64, RequestError> {
        let start = self.i;
        self.eat(b'-');
        let digits = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        let n = self.i - digits;
        if n == 0 || n > 15 {
            return Err(bad("expected an integer of 1 to 15 digits"));
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad("bad integer"))
    }
    fn bare(&mut self) -> Result<SfValue, RequestError> {
        match self.peek() {
            Some(b'"') => self.string().map(SfValue::String),
            Some(b'-' | b'0'..=b'9') => self.integer().map(SfValue::Integer),
            Some(b':') => {
                self.i += 1;
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
                {
                    self.i += 1;
                }
                let text = &self.s[start..self.i];
                if !self.eat(b':') {
                    return Err(bad("unterminated byte sequence"));
                }
                STANDARD
                    .decode(text)
                    .map(SfValue::Bytes)
                    .map_err(|_| bad("byte sequence is not base64"))
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'*' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b))
                {
                    self.i += 1;
                }
                Ok(SfValue::Token(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
            }
            _ => Err(bad("expected a value")),
        }
    }
    fn params(&mut self) -> Result<Vec<(String, ParamValue)>, RequestError> {
        let mut out = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            if !self.eat(b'=') {
                return Err(bad("boolean parameters are not supported"));
            }
            let value = match self.bare()? {
                SfValue::Integer(n) => ParamValue::Integer(n),
                SfValue::String(s) => ParamValue::String(s),
                _ => return Err(bad("parameters must be integers or strings")),
            };
            if out.iter().any(|(k, _)| *k == key) {
                return Err(bad("repeated parameter"));
            }
            out.push((key, value));
        }
        Ok(out)
    }
}

fn parse_dictionary(text: &str) -> Result<Vec<(String, SfMember)>, RequestError> {
    let mut c = Cursor {
        s: text.as_bytes(),
        i: 0,
    };
    let mut out: Vec<(String, SfMember)> = Vec::new();
    c.skip_sp();
    loop {
        let key = c.key()?;
        if !c.eat(b'=') {
            return Err(bad("dictionary member without a value"));
        }
        let value = if c.eat(b'(') {
            let mut items = Vec::new();
            loop {
                c.skip_sp();
                if c.eat(b')') {
                    break;
                }
                items.push(c.string()?);
                if c.peek() == Some(b';') {
                    return Err(bad("component parameters are not supported"));
                }
                if !matches!(c.peek(), Some(b' ' | b')')) {
                    return Err(bad("expected a space or ')' in the component list"));
                }
            }
            SfValue::InnerList(items)
        } else {
            c.bare()?
        };
        let params = c.params()?;
        if out.iter().any(|(k, _)| *k == key) {
            return Err(bad("repeated dictionary member"));
        }
        out.push((key, SfMember { value, params }));
        c.skip_sp();
        if c.peek().is_none() {
            return Ok(out);
        }
        if !c.eat(b',') {
            return Err(bad("expected ',' between members"));
        }
        c.skip_sp();
    }
}

/// Parses a `Signature-Input` value and returns the components and parameters of the
/// signature labelled `label`.
pub fn parse_signature_input(
    text: &str,
    label: &str,
) -> Result<(Vec<Component>, SignatureParams), RequestError> {
    let member = parse_dictionary(text)?
        .into_iter()
        .find(|(k, _)| k == label)
        .map(|(_, m)| m)
        .ok_or(RequestError::MissingSignature)?;
    let SfValue::InnerList(names) = member.value else {
        return Err(bad("Signature-Input members must be component lists"));
    };
    let components = names
        .iter()
        .map(|n| Component::parse(n))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((components, SignatureParams(member.params)))
}

/// Parses a `Signature` value and returns the signature labelled `label`.
pub fn parse_signature(text: &str, label: &str) -> Result<Vec<u8>, RequestError> {
    let member = parse_dictionary(text)?
        .into_iter()
        .find(|(k, _)| k == label)
        .map(|(_, m)| m)
        .ok_or(RequestError::MissingSignature)?;
    match member.value {
        SfValue::Bytes(b) => Ok(b),
        _ => Err(bad("Signature members must be byte sequences")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::item::TrustedPeers;
    use std::collections::HashSet;
    use time::macros::datetime;

    /// RFC 9421 Appendix B.1.4, test-key-ed25519 (the JWK `d` and `x`).
    const RFC_ED25519_D: &str = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";
    const RFC_ED25519_X: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";
    /// The same key in the appendix's PKCS#8 PEM body: the seed is its last 32 bytes.
    const RFC_ED25519_PKCS8: &str =
        "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";

    /// RFC 9421 Appendix B.2, the test request.
    const B2_HEADERS: &[(&str, &str)] = &[
        ("Host", "example.com"),
        ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("Content-Type", "application/json"),
        (
            "Content-Digest",
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
        ),
        ("Content-Length", "18"),
    ];
    const B2_BODY: &[u8] = br#"{"hello": "world"}"#;

    fn b2() -> HttpRequest<'static> {
        HttpRequest {
            method: "POST",
            authority: "example.com",
            path: "/foo",
            query: Some("param=Value&Pet=dog"),
            headers: B2_HEADERS,
            body: B2_BODY,
        }
    }

    fn rfc_keys() -> NodeKeys {
        let seed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(RFC_ED25519_D)
            .unwrap();
        let pkcs8 = STANDARD.decode(RFC_ED25519_PKCS8).unwrap();
        assert_eq!(&pkcs8[pkcs8.len() - 32..], seed.as_slice());
        NodeKeys::from_seed(&seed.try_into().unwrap())
    }

    #[test]
    fn rfc9421_b_2_6_signature_base_and_signature_byte_for_byte() {
        let keys = rfc_keys();
        assert_eq!(keys.public_key().to_base64url(), RFC_ED25519_X);
        let components: Vec<Component> = [
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ]
        .iter()
        .map(|n| Component::parse(n).unwrap())
        .collect();
        let params = SignatureParams(vec![
            ("created".into(), ParamValue::Integer(1618884473)),
            (
                "keyid".into(),
                ParamValue::String("test-key-ed25519".into()),
            ),
        ]);
        let base = signature_base(&b2(), &components, &params).unwrap();
        assert_eq!(
            base,
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
             \"@method\": POST\n\
             \"@path\": /foo\n\
             \"@authority\": example.com\n\
             \"content-type\": application/json\n\
             \"content-length\": 18\n\
             \"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\""
        );
        let sig = keys.sign(base.as_bytes());
        assert_eq!(
            STANDARD.encode(sig),
            "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
        );
        // The RFC's headers parse back to the same components, parameters and signature.
        let input = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
        let signature = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
        let (c2, p2) = parse_signature_input(input, "sig-b26").unwrap();
        assert_eq!((&c2, &p2), (&components, &params));
        assert_eq!(
            format!("sig-b26={}", signature_params_value(&c2, &p2)),
            input
        );
        let sig2 = parse_signature(signature, "sig-b26").unwrap();
        let public = PublicKey::from_base64url(RFC_ED25519_X).unwrap();
        assert!(verify_base(&public, &base, &sig2));
        // One changed byte of a covered field, and it no longer verifies.
        let tampered = base.replace("02:07:55", "02:07:56");
        assert!(!verify_base(&public, &tampered, &sig2));
    }

    #[test]
    fn rfc9421_b_2_content_digest() {
        assert!(content_digest_matches(B2_HEADERS[3].1, B2_BODY).unwrap());
        assert!(!content_digest_matches(B2_HEADERS[3].1, b"{}").unwrap());
        assert!(content_digest_matches(&content_digest(B2_BODY), B2_BODY).unwrap());
        // Only unknown algorithms: not accepted.
        assert!(!content_digest_matches("md5=:AAAA:", B2_BODY).unwrap());
    }

    const NOW: OffsetDateTime = datetime!(2026-12-07 03:00 UTC);
    const NONCE: &str = "q5cE1x0yvQ2JpZz8kL7mNg";

    fn node() -> NodeKeys {
        NodeKeys::from_seed(&[3; 32])
    }

    fn trusted() -> TrustedPeers {
        let mut t = TrustedPeers::new();
        t.pin(node().public_key(), "SG".parse().unwrap());
        t
    }

    fn feed_request() -> HttpRequest<'static> {
        HttpRequest {
            method: "GET",
            authority: "vigilo.example.gov.vn",
            path: "/federation/v1/feed",
            query: Some("after=120"),
            headers: &[],
            body: b"",
        }
    }

    /// Adds the signature headers to a request's headers.
    fn signed_headers(req: &HttpRequest<'_>, h: &SignatureHeaders) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = req
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    if n.eq_ignore_ascii_case("content-type") {
                        "content-type"
                    } else {
                        "x-other"
                    },
                    v.to_string(),
                )
            })
            .collect();
        out.push(("Signature-Input", h.signature_input.clone()));
        out.push(("Signature", h.signature.clone()));
        if let Some(d) = &h.content_digest {
            out.push(("Content-Digest", d.clone()));
        }
        out
    }

    fn verify_with(
        req: &HttpRequest<'_>,
        headers: &[(&'static str, String)],
        now: OffsetDateTime,
        seen: &mut HashSet<(KeyId, String)>,
    ) -> Result<VerifiedRequest, RequestError> {
        let hs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = HttpRequest {
            headers: &hs,
            ..*req
        };
        verify_request(
            &r,
            &trusted(),
            now,
            Duration::seconds(300),
            &mut |k: &KeyId, n: &str, _c: i64| seen.insert((k.clone(), n.to_owned())),
        )
    }

    #[test]
    fn round_trip_and_replay() {
        let req = feed_request();
        let h = sign_request(&node(), &req, NOW.unix_timestamp(), NONCE).unwrap();
        assert_eq!(
            h.signature_input,
            format!(
                "vigilo=(\"@method\" \"@authority\" \"@path\" \"@query\");created={};keyid=\"{}\";nonce=\"{NONCE}\";alg=\"ed25519\"",
                NOW.unix_timestamp(),
                node().key_id()
            )
        );
        assert_eq!(h.content_digest, None);
        let headers = signed_headers(&req, &h);
        let mut seen = HashSet::new();
        let v = verify_with(&req, &headers, NOW, &mut seen).unwrap();
        assert_eq!(v.key_id, node().key_id());
        assert_eq!(v.country.as_str(), "SG");
        // The same request again: replayed.
        assert_eq!(
            verify_with(&req, &headers, NOW, &mut seen),
            Err(RequestError::Replayed)
        );
    }

    #[test]
    fn with_a_body() {
        let req = HttpRequest {
            method: "POST",
            authority: "127.0.0.1:38080",
            path: "/federation/v1/ack",
            query: None,
            headers: &[("Content-Type", "application/json")],
            body: br#"{"received":["ew-1"]}"#,
        };
        let h = sign_request(&node(), &req, NOW.unix_timestamp(), NONCE).unwrap();
        assert!(h.signature_input.contains("\"content-digest\""));
        let headers = signed_headers(&req, &h);
        let mut seen = HashSet::new();
        assert!(verify_with(&req, &headers, NOW, &mut seen).is_ok());
        // A different body under the same headers.
        let other = HttpRequest {
            body: br#"{"received":["ew-2"]}"#,
            ..req
        };
        assert_eq!(
            verify_with(&other, &headers, NOW, &mut HashSet::new()),
            Err(RequestError::DigestMismatch)
        );
        // The digest recomputed for the new body: now the signature fails.
        let mut forged = headers.clone();
        for (n, v) in &mut forged {
            if *n == "Content-Digest" {
                *v = content_digest(other.body);
            }
        }
        assert_eq!(
            verify_with(&other, &forged, NOW, &mut HashSet::new()),
            Err(RequestError::BadSignature)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn sign_then_verify_always_holds_and_a_changed_path_fails(
            seed in proptest::prelude::any::<[u8; 32]>(),
            path in "/[a-z0-9/_.-]{0,40}",
            query in proptest::option::of("[a-z0-9=&%_-]{0,30}"),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            nonce in "[A-Za-z0-9_-]{16,64}",
            flip in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let keys = NodeKeys::from_seed(&seed);
            let mut t = TrustedPeers::new();
            t.pin(keys.public_key(), "GB".parse().unwrap());
            let req = HttpRequest {
                method: if body.is_empty() { "GET" } else { "POST" },
                authority: "vigilo.example.gov.vn",
                path: &path,
                query: query.as_deref(),
                headers: &[],
                body: &body,
            };
            let h = sign_request(&keys, &req, NOW.unix_timestamp(), &nonce).unwrap();
            let mut hs: Vec<(&str, &str)> = vec![
                ("signature-input", &h.signature_input),
                ("signature", &h.signature),
            ];
            if let Some(d) = &h.content_digest {
                hs.push(("content-digest", d));
            }
            let signed = HttpRequest { headers: &hs, ..req };
            let always = &mut |_: &KeyId, _: &str, _: i64| true;
            let v = verify_request(&signed, &t, NOW, Duration::seconds(60), always);
            proptest::prop_assert!(v.is_ok(), "{:?}", v);
            // Change one byte of the path (to another allowed character).
            let mut bytes = path.clone().into_bytes();
            let i = flip.index(bytes.len());
            bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
            let other = String::from_utf8(bytes).unwrap();
            let tampered = HttpRequest { path: &other, ..signed };
            proptest::prop_assert_eq!(
                verify_request(&tampered, &t, NOW, Duration::seconds(60), always),
                Err(RequestError::BadSignature)
            );
        }
    }

    #[test]
    fn refusals() {
        let req = feed_request();
        let h = sign_request(&node(), &req, NOW.unix_timestamp(), NONCE).unwrap();
        let headers = signed_headers(&req, &h);
        let fresh = || HashSet::new();
        // Stale and early.
        assert!(matches!(
            verify_with(&req, &headers, NOW + Duration::seconds(301), &mut fresh()),
            Err(RequestError::Stale { .. })
        ));
        assert!(matches!(
            verify_with(&req, &headers, NOW - Duration::seconds(301), &mut fresh()),
            Err(RequestError::FromTheFuture { .. })
        ));
        assert!(verify_with(&req, &headers, NOW + Duration::seconds(299), &mut fresh()).is_ok());
        // Tampered path and query.
        let other_path = HttpRequest {
            path: "/federation/v1/feed/all",
            ..req
        };
        assert_eq!(
            verify_with(&other_path, &headers, NOW, &mut fresh()),
            Err(RequestError::BadSignature)
        );
        let other_query = HttpRequest {
            query: Some("after=0"),
            ..req
        };
        assert_eq!(
            verify_with(&other_query, &headers, NOW, &mut fresh()),
            Err(RequestError::BadSignature)
        );
        // A query added to a request signed without one.
        let no_query = HttpRequest { query: None, ..req };
        let h2 = sign_request(&node(), &no_query, NOW.unix_timestamp(), NONCE).unwrap();
        assert_eq!(
            verify_with(&req, &signed_headers(&req, &h2), NOW, &mut fresh()),
            Err(RequestError::NotCovered("@query"))
        );
        // Another host.
        let other_host = HttpRequest {
            authority: "evil.example",
            ..req
        };
        assert_eq!(
            verify_with(&other_host, &headers, NOW, &mut fresh()),
            Err(RequestError::BadSignature)
        );
        // Unknown key.
        let stranger = NodeKeys::from_seed(&[4; 32]);
        let h3 = sign_request(&stranger, &req, NOW.unix_timestamp(), NONCE).unwrap();
        assert_eq!(
            verify_with(&req, &signed_headers(&req, &h3), NOW, &mut fresh()),
            Err(RequestError::UnknownKey(stranger.key_id().to_string()))
        );
        // No signature at all.
        assert_eq!(
            verify_with(&req, &[], NOW, &mut fresh()),
            Err(RequestError::MissingHeader("signature-input"))
        );
        // Another algorithm claimed.
        let mut alg = headers.clone();
        alg[0].1 = alg[0]
            .1
            .replace("alg=\"ed25519\"", "alg=\"rsa-pss-sha512\"");
        assert_eq!(
            verify_with(&req, &alg, NOW, &mut fresh()),
            Err(RequestError::Algorithm("rsa-pss-sha512".into()))
        );
        // A component dropped from the list.
        let mut fewer = headers.clone();
        fewer[0].1 = fewer[0].1.replace(" \"@authority\"", "");
        assert_eq!(
            verify_with(&req, &fewer, NOW, &mut fresh()),
            Err(RequestError::NotCovered("@authority"))
        );
        // Garbage.
        let mut junk = headers.clone();
        junk[0].1 = "vigilo=(\"@method\"".into();
        assert!(matches!(
            verify_with(&req, &junk, NOW, &mut fresh()),
            Err(RequestError::Malformed(_))
        ));
        // A bad nonce is refused when signing.
        assert_eq!(
            sign_request(&node(), &req, 0, "short"),
            Err(RequestError::Nonce)
        );
    }
}
