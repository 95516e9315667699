//! A node's identity: its Ed25519 key pair (from 32 seed bytes the caller supplies, so this
//! crate needs no random number generator), its key id, and the one-line identity an admin
//! hands to peers (`vigilo peer identity` prints it, `vigilo peer add LINE` parses it):
//!
//! ```text
//! vigilo-peer/1 VN https://vigilo.example.gov.vn ed25519:JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs Cục Hạ tầng và Thiết bị y tế
//! ```
//!
//! Fields are separated by single spaces: a format tag, the ISO 3166-1 alpha-2 country
//! code, the base URL (https; http only for a loopback host, for tests and demos), the public
//! key as `ed25519:` and 43 characters of unpadded base64url, then the node's name (the rest
//! of the line, so it may contain spaces).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The tag that starts an identity line; the number is the line format's version.
pub const IDENTITY_LINE_TAG: &str = "vigilo-peer/1";
/// The longest node name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 120;
const KEY_PREFIX: &str = "ed25519:";

/// What is wrong with an identity line or one of its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the identity line is empty")]
    Empty,
    #[error("the identity line must start with '{IDENTITY_LINE_TAG}', found '{0}'")]
    WrongTag(String),
    #[error("the identity line has no {0}")]
    Missing(&'static str),
    #[error("the country '{0}' is not an ISO 3166-1 alpha-2 code (two capital letters, e.g. VN)")]
    Country(String),
    #[error("the key must be written 'ed25519:' followed by base64url, found '{0}'")]
    KeyAlgorithm(String),
    #[error("the public key is not valid unpadded base64url")]
    KeyEncoding,
    #[error("the public key has {0} bytes, an Ed25519 key has 32")]
    KeyLength(usize),
    #[error("the public key is not a usable Ed25519 key (not a curve point, or of small order)")]
    KeyInvalid,
    #[error("the key id '{0}' is not 32 lowercase hexadecimal characters")]
    KeyId(String),
    #[error("the base URL '{0}' must start with https:// (http:// only for a loopback address)")]
    UrlScheme(String),
    #[error(
        "the base URL '{0}' uses http:// but its host is not a loopback address; use https://"
    )]
    UrlHttpNotLoopback(String),
    #[error("the base URL '{0}' has no valid host name or address")]
    UrlHost(String),
    #[error("the base URL '{0}' has an invalid port (1 to 65535)")]
    UrlPort(String),
    #[error("the base URL '{0}' must not contain a user name, query or fragment")]
    UrlExtra(String),
    #[error("the base URL '{0}' has characters not allowed in its path")]
    UrlPath(String),
    #[error("the node name is empty")]
    NameEmpty,
    #[error("the node name is longer than {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error("the node name contains a control character")]
    NameControl,
}

/// An ISO 3166-1 alpha-2 country code (shape only: two capital ASCII letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        // Always two ASCII capitals (checked in `from_str`).
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl FromStr for CountryCode {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(CountryCode([*a, *b])),
            _ => Err(IdentityError::Country(s.chars().take(20).collect())),
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's display name: trimmed, 1 to 120 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeName(String);

impl NodeName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeName {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err(IdentityError::NameEmpty);
        }
        if t.chars().any(char::is_control) {
            return Err(IdentityError::NameControl);
        }
        if t.chars().count() > MAX_NAME_CHARS {
            return Err(IdentityError::NameTooLong);
        }
        Ok(NodeName(t.to_owned()))
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node's base URL: `https://host[:port][/path]`, or `http://` on a loopback host. Kept
/// normalised (lower-case scheme and host, no trailing slash), without user name, query or
/// fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaseUrl {
    https: bool,
    /// Host as written in a URL (`[::1]` for IPv6), lower case.
    host: String,
    port: Option<u16>,
    /// Empty or starting with `/`, without a trailing slash.
    path: String,
}

impl BaseUrl {
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host and, when not the scheme's default, the port: RFC 9421's `@authority`.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) if p != self.default_port() => format!("{}:{p}", self.host),
            _ => self.host.clone(),
        }
    }

    /// The path prefix the node is served under (`""` at the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn default_port(&self) -> u16 {
        if self.https {
            443
        } else {
            80
        }
    }

    fn is_loopback_host(host: &str) -> bool {
        if host == "localhost" {
            return true;
        }
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return ip.is_loopback();
        }
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .and_then(|h| h.parse::<Ipv6Addr>().ok())
            .is_some_and(|ip| ip.is_loopback())
    }
}

fn valid_dns_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        // A name of digits and dots only would be a malformed IPv4 address.
        && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl FromStr for BaseUrl {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shown = || s.chars().take(200).collect::<String>();
        let lower_scheme = s.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
        let (https, rest) = if lower_scheme == "https://" {
            (true, &s[8..])
        } else if lower_scheme.starts_with("http://") {
            (false, &s[7..])
        } else {
            return Err(IdentityError::UrlScheme(shown()));
        };
        if rest.contains(['?', '#', '@']) {
            return Err(IdentityError::UrlExtra(shown()));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (inside, after) = v6
                .split_once(']')
                .ok_or_else(|| IdentityError::UrlHost(shown()))?;
            inside
                .parse::<Ipv6Addr>()
                .map_err(|_| IdentityError::UrlHost(shown()))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| IdentityError::UrlHost(shown()))?,
                ),
            };
            (format!("[{}]", inside.to_ascii_lowercase()), port)
        } else {
            let (h, p) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            let h = h.to_ascii_lowercase();
            if h.parse::<Ipv4Addr>().is_err() && !valid_dns_name(&h) {
                return Err(IdentityError::UrlHost(shown()));
            }
            (h, p)
        };
        let port = match port {
            None => None,
            Some(p) => {
                if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IdentityError::UrlPort(shown()));
                }
                match p.parse::<u16>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => return Err(IdentityError::UrlPort(shown())),
                }
            }
        };
        // The scheme's default port is the same URL as none: keep one form, so that the
        // printed line parses back to an equal identity.
        let port = port.filter(|&p| p != if https { 443 } else { 80 });
        if !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~'))
            || path.contains("//")
            || path.split('/').any(|seg| seg == "." || seg == "..")
        {
            return Err(IdentityError::UrlPath(shown()));
        }
        if !https && !BaseUrl::is_loopback_host(&host) {
            return Err(IdentityError::UrlHttpNotLoopback(shown()));
        }
        Ok(BaseUrl {
            https,
            host,
            port,
            path: path.trim_end_matches('/').to_owned(),
        })
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

/// A key id: the first 16 bytes of the SHA-256 of the public key, as 32 lowercase hex
/// characters. It names a pinned key in feed items and request signatures; 128 bits, so it
/// can also serve as the fingerprint admins compare by telephone. It is never looked up
/// anywhere but in the admin's pinned keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn of(key: &PublicKey) -> KeyId {
        let digest = Sha256::digest(key.0.as_bytes());
        KeyId(hex::encode(&digest[..16]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyId {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(IdentityError::KeyId(s.chars().take(40).collect()))
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 public key that decodes to a curve point of large order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, IdentityError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| IdentityError::KeyInvalid)?;
        if key.is_weak() {
            return Err(IdentityError::KeyInvalid);
        }
        Ok(PublicKey(key))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// 43 characters of unpadded base64url.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    /// Parses unpadded base64url (without the `ed25519:` prefix).
    pub fn from_base64url(s: &str) -> Result<PublicKey, IdentityError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| IdentityError::KeyEncoding)?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| IdentityError::KeyLength(bytes.len()))?;
        PublicKey::from_bytes(&bytes)
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::of(self)
    }

    /// Strict Ed25519 verification (RFC 8032 with the checks of `verify_strict`: no
    /// non-canonical encodings, no small-order components).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({KEY_PREFIX}{})", self.to_base64url())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_PREFIX}{}", self.to_base64url())
    }
}

impl FromStr for PublicKey {
    type Err = IdentityError;
    /// `ed25519:` and unpadded base64url.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b64 = s
            .strip_prefix(KEY_PREFIX)
            .ok_or_else(|| IdentityError::KeyAlgorithm(s.chars().take(20).collect()))?;
        PublicKey::from_base64url(b64)
    }
}

/// This node's key pair. Made from 32 seed bytes the caller draws from the operating
/// system's generator at first start and stores (file mode 0600, or encrypted in the
/// database); the secret is zeroed on drop and never printed.
pub struct NodeKeys {
    signing: SigningKey,
    public: PublicKey,
}

impl NodeKeys {
    pub fn from_seed(seed: &[u8; 32]) -> NodeKeys {
        let signing = SigningKey::from_bytes(seed);
        let public = PublicKey(signing.verifying_key());
        NodeKeys { signing, public }
    }

    /// The seed, for the caller to store.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// An Ed25519 signature (deterministic, RFC 8032) of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The identity to share with peers.
    pub fn identity(
        &self,
        name: NodeName,
        country: CountryCode,
        base_url: BaseUrl,
    ) -> PeerIdentity {
        PeerIdentity {
            name,
            country,
            base_url,
            public_key: self.public,
        }
    }
}

impl fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKeys")
            .field("public", &self.public)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// A node's shareable identity: what `vigilo peer identity` prints as one line and `vigilo
/// peer add LINE` pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    pub name: NodeName,
    pub country: CountryCode,
    pub base_url: BaseUrl,
    pub public_key: PublicKey,
}

impl PeerIdentity {
    pub fn key_id(&self) -> KeyId {
        self.public_key.key_id()
    }

    /// The one-line form (see the module documentation).
    pub fn to_line(&self) -> String {
        format!(
            "{IDENTITY_LINE_TAG} {} {} {} {}",
            self.country, self.base_url, self.public_key, self.name
        )
    }

    /// Parses the one-line form strictly: fields in order, separated by single spaces; the
    /// surrounding white space (a pasted newline) is ignored.
    pub fn parse_line(line: &str) -> Result<PeerIdentity, IdentityError> {
        let line = line.trim();
        if line.is_empty() {
            return Err(IdentityError::Empty);
        }
        let mut parts = line.splitn(5, ' ');
        let tag = parts.next().unwrap_or_default();
        if tag != IDENTITY_LINE_TAG {
            return Err(IdentityError::WrongTag(tag.chars().take(40).collect()));
        }
        let country = parts.next().ok_or(IdentityError::Missing("country code"))?;
        let url = parts.next().ok_or(IdentityError::Missing("base URL"))?;
        let key = parts.next().ok_or(IdentityError::Missing("public key"))?;
        let name = parts.next().ok_or(IdentityError::Missing("node name"))?;
        Ok(PeerIdentity {
            country: country.parse()?,
            base_url: url.parse()?,
            public_key: key.parse()?,
            name: name.parse()?,
        })
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

impl FromStr for PeerIdentity {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PeerIdentity::parse_line(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 section 7.1, TEST 1.
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn seed(hex_str: &str) -> [u8; 32] {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    #[test]
    fn keys_from_seed_match_rfc8032() {
        let keys = NodeKeys::from_seed(&seed(RFC8032_SEED));
        assert_eq!(hex::encode(keys.public_key().to_bytes()), RFC8032_PUBLIC);
        assert_eq!(hex::encode(keys.sign(b"")), RFC8032_SIG);
        let sig: [u8; 64] = hex::decode(RFC8032_SIG).unwrap().try_into().unwrap();
        assert!(keys.public_key().verify(b"", &sig));
        assert!(!keys.public_key().verify(b"x", &sig));
        assert_eq!(keys.seed(), seed(RFC8032_SEED));
        assert!(!format!("{keys:?}").contains("9d61"));
        let id = keys.key_id();
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(id.as_str().parse::<KeyId>().unwrap(), id);
    }

    fn sample() -> PeerIdentity {
        NodeKeys::from_seed(&[7; 32]).identity(
            "Cục Hạ tầng và Thiết bị y tế".parse().unwrap(),
            "VN".parse().unwrap(),
            "https://vigilo.example.gov.vn/".parse().unwrap(),
        )
    }

    #[test]
    fn identity_line_round_trips() {
        let id = sample();
        let line = id.to_line();
        assert!(line.starts_with("vigilo-peer/1 VN https://vigilo.example.gov.vn ed25519:"));
        assert!(line.ends_with(" Cục Hạ tầng và Thiết bị y tế"));
        assert_eq!(
            PeerIdentity::parse_line(&format!("  {line}\n")).unwrap(),
            id
        );
        assert_eq!(line.parse::<PeerIdentity>().unwrap().key_id(), id.key_id());
    }

    #[test]
    fn identity_line_errors_say_what_is_wrong() {
        let good = sample().to_line();
        let key = sample().public_key.to_string();
        let cases: Vec<(String, IdentityError)> = vec![
            ("".into(), IdentityError::Empty),
            (
                "vigilo-peer/2 VN".into(),
                IdentityError::WrongTag("vigilo-peer/2".into()),
            ),
            (
                "vigilo-peer/1 VN".into(),
                IdentityError::Missing("base URL"),
            ),
            (
                "vigilo-peer/1 VN https://a.example".into(),
                IdentityError::Missing("public key"),
            ),
            (
                format!("vigilo-peer/1 VN https://a.example {key}"),
                IdentityError::Missing("node name"),
            ),
            (
                good.replace(" VN ", " vn "),
                IdentityError::Country("vn".into()),
            ),
            (
                good.replace(" VN ", " VNM "),
                IdentityError::Country("VNM".into()),
            ),
            (
                good.replace(
                    "https://vigilo.example.gov.vn",
                    "http://vigilo.example.gov.vn",
                ),
                IdentityError::UrlHttpNotLoopback("http://vigilo.example.gov.vn".into()),
            ),
            (
                good.replace("https://vigilo.example.gov.vn", "ftp://x"),
                IdentityError::UrlScheme("ftp://x".into()),
            ),
            (
                good.replace("ed25519:", "rsa:"),
                IdentityError::KeyAlgorithm(
                    key.replace("ed25519:", "rsa:").chars().take(20).collect(),
                ),
            ),
            (
                good.replace(&key, "ed25519:AAAA"),
                IdentityError::KeyLength(3),
            ),
            (
                good.replace(&key, "ed25519:not*base64"),
                IdentityError::KeyEncoding,
            ),
            (
                good.replace("Cục Hạ tầng và Thiết bị y tế", "\u{7}bell"),
                IdentityError::NameControl,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(PeerIdentity::parse_line(&line), Err(want), "{line}");
        }
        // The identity element of the curve (small order) is refused.
        let mut small = [0u8; 32];
        small[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(&small),
            Err(IdentityError::KeyInvalid)
        );
        let long_name = "x".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            long_name.parse::<NodeName>(),
            Err(IdentityError::NameTooLong)
        );
    }

    #[test]
    fn base_urls() {
        for (input, shown, authority) in [
            (
                "https://vigilo.example.gov.vn",
                "https://vigilo.example.gov.vn",
                "vigilo.example.gov.vn",
            ),
            (
                "HTTPS://Vigilo.Example.SG:443/",
                "https://vigilo.example.sg",
                "vigilo.example.sg",
            ),
            (
                "https://grn.example.org:8443/vigilo/",
                "https://grn.example.org:8443/vigilo",
                "grn.example.org:8443",
            ),
            (
                "http://127.0.0.1:38080",
                "http://127.0.0.1:38080",
                "127.0.0.1:38080",
            ),
            ("http://localhost:80", "http://localhost", "localhost"),
            ("http://[::1]:9000", "http://[::1]:9000", "[::1]:9000"),
            ("https://10.0.0.5", "https://10.0.0.5", "10.0.0.5"),
        ] {
            let url: BaseUrl = input.parse().unwrap();
            assert_eq!(url.to_string(), shown, "{input}");
            assert_eq!(url.authority(), authority, "{input}");
            // Found by fuzzing (fuzz/fuzz_targets/federation_identity.rs): with the default
            // port written out, the printed URL parsed back to an unequal one.
            assert_eq!(shown.parse::<BaseUrl>().unwrap(), url, "{input}");
        }
        for bad in [
            "vigilo.example.gov.vn",
            "http://10.0.0.5",
            "http://[::2]:80",
            "https://user@host.example",
            "https://host.example/?q=1",
            "https://host.example/#x",
            "https://host.example:0",
            "https://host.example:65536",
            "https://host.example:",
            "https://-host.example",
            "https://host..example",
            "https://ho st.example",
            "https://999.1.1.1",
            "https://host.example/a/../b",
            "https://host.example/a b",
            "https://",
        ] {
            assert!(bad.parse::<BaseUrl>().is_err(), "{bad} accepted");
        }
    }
}
