//! Roles, organisation kinds and user names.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The roles of the brief. `Public` is the anonymous visitor; it is never stored on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Public,
    Reporter,
    Vendor,
    Reviewer,
    Admin,
    Peer,
}

impl Role {
    /// Roles an account can hold (everything but the anonymous visitor).
    pub const ACCOUNT_ROLES: [Role; 5] = [
        Role::Reporter,
        Role::Vendor,
        Role::Reviewer,
        Role::Admin,
        Role::Peer,
    ];
    pub const ALL: [Role; 6] = [
        Role::Public,
        Role::Reporter,
        Role::Vendor,
        Role::Reviewer,
        Role::Admin,
        Role::Peer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Reporter => "reporter",
            Role::Vendor => "vendor",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
            Role::Peer => "peer",
        }
    }

    /// The organisation kind an account of this role must belong to, if any.
    pub fn required_org_kind(self) -> Option<OrgKind> {
        match self {
            Role::Reporter => Some(OrgKind::Facility),
            Role::Vendor => Some(OrgKind::Manufacturer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{0}': expected one of reporter, vendor, reviewer, admin, peer")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "public" => Role::Public,
            "reporter" | "facility_reporter" | "facility-reporter" => Role::Reporter,
            "vendor" => Role::Vendor,
            "reviewer" => Role::Reviewer,
            "admin" | "regulator_admin" | "regulator-admin" => Role::Admin,
            "peer" | "peer_node" | "peer-node" => Role::Peer,
            _ => return Err(UnknownRole(s.to_string())),
        })
    }
}

/// Kinds of organisation in the domain model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Manufacturer,
    Facility,
    Regulator,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Manufacturer => "manufacturer",
            OrgKind::Facility => "facility",
            OrgKind::Regulator => "regulator",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown organisation kind '{0}': expected manufacturer, facility or regulator")]
pub struct UnknownOrgKind(pub String);

impl FromStr for OrgKind {
    type Err = UnknownOrgKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "manufacturer" => Ok(OrgKind::Manufacturer),
            "facility" => Ok(OrgKind::Facility),
            "regulator" => Ok(OrgKind::Regulator),
            _ => Err(UnknownOrgKind(s.to_string())),
        }
    }
}

/// A login name: 3 to 64 characters of ASCII letters, digits, `.`, `_`, `-`, `@`,
/// stored lower-case so logins are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("user name must be 3 to 64 characters long")]
    Length,
    #[error("user name may contain only letters a-z, digits and . _ - @")]
    Characters,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let s = raw.trim().to_ascii_lowercase();
        if !(3..=64).contains(&s.len()) {
            return Err(UsernameError::Length);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(UsernameError::Characters);
        }
        Ok(Username(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Minimum password rules, checked before hashing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least 10 characters long")]
    TooShort,
    #[error("password must be at most 256 characters long")]
    TooLong,
}

pub fn check_password_policy(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if n < 10 {
        Err(PasswordError::TooShort)
    } else if n > 256 {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
        assert_eq!("Regulator-Admin".parse::<Role>(), Ok(Role::Admin));
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse(" Alice ").map(|u| u.0), Ok("alice".into()));
        assert_eq!(Username::parse("ab"), Err(UsernameError::Length));
        assert_eq!(Username::parse("a b c"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("nguyễn"), Err(UsernameError::Characters));
        assert!(Username::parse("reviewer@moh.gov.vn").is_ok());
    }

    #[test]
    fn password_policy() {
        assert_eq!(check_password_policy("short"), Err(PasswordError::TooShort));
        assert!(check_password_policy("mật-khẩu-dài-đủ").is_ok());
        assert_eq!(
            check_password_policy(&"x".repeat(300)),
            Err(PasswordError::TooLong)
        );
    }
}
