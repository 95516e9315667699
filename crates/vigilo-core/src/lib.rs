//! Vigilo domain types and rules.
//!
//! This crate does no I/O, reads no clock and touches no environment: time and
//! randomness arrive as parameters so that tests control them.

pub mod admin_units;
pub mod appraisal;
pub mod audit;
pub mod blueprints;
pub mod checklist;
pub mod classification;
pub mod clock;
pub mod codes;
pub mod directory;
pub mod documents;
pub mod fda_list;
pub mod federation;
pub mod fhir;
pub mod identity;
pub mod impact;
pub mod incident;
pub mod incident_quality;
pub mod kpi;
pub mod lang;
pub mod monitoring;
pub mod navigator;
pub mod period;
pub mod public_reports;
pub mod scrub;
pub mod signal;
pub mod suppression;
pub mod text;

pub use clock::Clock;
pub use identity::{OrgKind, Role, Username};
pub use lang::Lang;
