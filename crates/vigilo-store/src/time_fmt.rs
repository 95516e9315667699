//! Stored time format: RFC 3339 UTC with exactly six fraction digits, so that text
//! order is time order on both backends.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

const STORED: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

pub fn format_time(t: OffsetDateTime) -> String {
    let utc = t.to_offset(UtcOffset::UTC);
    utc.format(STORED)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".to_string())
}

pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(s, STORED)
        .ok()
        .map(|p| p.assume_utc())
        .or_else(|| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trip_and_order() {
        let a = datetime!(2026-11-23 09:00:00.5 UTC);
        let b = datetime!(2026-11-23 10:00:00 +07:00);
        assert_eq!(format_time(a), "2026-11-23T09:00:00.500000Z");
        assert_eq!(format_time(b), "2026-11-23T03:00:00.000000Z");
        assert_eq!(parse_time(&format_time(a)), Some(a));
        assert!(format_time(b) < format_time(a));
    }
}
