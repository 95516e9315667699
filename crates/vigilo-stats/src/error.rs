//! Typed errors. Every function that could produce a NaN or an infinite value from bad or
//! degenerate input returns one of these instead, so no NaN reaches a report silently.

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// The input has no observations where at least one is needed.
    #[error("empty input: {0}")]
    Empty(&'static str),
    /// Two inputs that must be aligned have different lengths.
    #[error("length mismatch in {what}: {left} vs {right}")]
    LengthMismatch {
        what: &'static str,
        left: usize,
        right: usize,
    },
    /// A NaN or infinite value in the input.
    #[error("non-finite value in {what} at index {index}")]
    NonFinite { what: &'static str, index: usize },
    /// A value outside the domain of the method (e.g. a probability above 1).
    #[error("value out of range in {what} at index {index}: {value}")]
    OutOfRange {
        what: &'static str,
        index: usize,
        value: f64,
    },
    /// A parameter (threshold, level, bin count, ...) that the method cannot use.
    #[error("invalid parameter {name}: {detail}")]
    InvalidParameter { name: &'static str, detail: String },
    /// The statistic is mathematically undefined for this input
    /// (e.g. AUROC without any negative case).
    #[error("undefined: {0}")]
    Undefined(String),
    /// An iterative fit did not converge (e.g. separation in a logistic fit).
    #[error("did not converge: {0}")]
    NoConvergence(String),
    /// Inconsistent structured input (e.g. a tree with a cycle).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Result alias used across the crate.
pub type Result<T> = std::result::Result<T, StatsError>;

pub(crate) fn invalid(name: &'static str, detail: impl Into<String>) -> StatsError {
    StatsError::InvalidParameter {
        name,
        detail: detail.into(),
    }
}

/// Checks that every value is finite.
pub(crate) fn check_finite(what: &'static str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(StatsError::NonFinite { what, index }),
        None => Ok(()),
    }
}

/// Checks that every value is a probability in [0, 1].
pub(crate) fn check_probabilities(what: &'static str, xs: &[f64]) -> Result<()> {
    check_finite(what, xs)?;
    match xs.iter().position(|x| !(0.0..=1.0).contains(x)) {
        Some(index) => Err(StatsError::OutOfRange {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

pub(crate) fn check_len(what: &'static str, left: usize, right: usize) -> Result<()> {
    if left != right {
        return Err(StatsError::LengthMismatch { what, left, right });
    }
    Ok(())
}

/// Checks a confidence level is in (0, 1).
pub(crate) fn check_level(level: f64) -> Result<()> {
    if !(level > 0.0 && level < 1.0) {
        return Err(invalid("level", format!("must be in (0, 1), got {level}")));
    }
    Ok(())
}
