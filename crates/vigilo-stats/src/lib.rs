//! Pure statistics for Vigilo: model evaluation, disproportionality, sequential detection
//! and drift. No I/O, no clock, no environment; randomness only through a seed parameter.
//!
//! The conventions where published tools disagree (counting unit, which IC, Yates, zero
//! cells, bins) follow the project's `statistics.md` and are stated on each function.
//! Degenerate input yields a [`StatsError`], never a silent NaN.

// `!(x > 0.0)` is used on purpose: unlike `x <= 0.0` it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::nonminimal_bool)]

pub mod dispro;
pub mod drift;
pub mod error;
pub mod eval;
pub mod ks;
pub mod mgps;
pub mod rng;
pub mod sequential;
pub mod special;

pub use error::{Result, StatsError};
