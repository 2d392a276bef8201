//! Timestamps on the wire as DRF writes them: Python's `isoformat()` in UTC
//! with `Z` for `+00:00`. That is six fractional digits when there are any
//! microseconds and none when there are not, where chrono's default writes
//! as few as it needs (`.500Z`). Django keeps microseconds only, so finer
//! digits are dropped (truncated, as a stored value would be). With the
//! schema the OpenAPI document gives such a field.

use chrono::{DateTime, Utc};
use serde::Serializer;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, Type};

/// `serialize_with` for a `DateTime<Utc>` field of an API body.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let format = if at.timestamp_subsec_micros() == 0 { "%Y-%m-%dT%H:%M:%SZ" } else { "%Y-%m-%dT%H:%M:%S%.6fZ" };
    serializer.collect_str(&at.format(format))
}

/// `schema_with` for the same field: the document says exactly what
/// [`serialize`] writes, so the tests' validation checks it.
pub fn schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some("RFC 3339 in UTC: six fractional digits, or none on a whole second."))
        .pattern(Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z$"))
        .examples(["2026-06-01T12:00:00.500000Z"])
        .build()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    fn written(nanos: u32) -> String {
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap() + chrono::Duration::nanoseconds(nanos.into());
        let mut out = Vec::new();
        super::serialize(&at, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_whole_second_has_no_fraction() {
        assert_eq!(written(0), r#""2026-06-01T12:00:00Z""#);
    }

    #[test]
    fn a_fraction_has_six_digits() {
        assert_eq!(written(500_000_000), r#""2026-06-01T12:00:00.500000Z""#, "milliseconds");
        assert_eq!(written(123_456_000), r#""2026-06-01T12:00:00.123456Z""#, "microseconds");
        assert_eq!(written(1_000), r#""2026-06-01T12:00:00.000001Z""#, "one microsecond");
    }

    #[test]
    fn nanoseconds_are_truncated_to_microseconds() {
        assert_eq!(written(123_456_789), r#""2026-06-01T12:00:00.123456Z""#);
        assert_eq!(written(999), r#""2026-06-01T12:00:00Z""#, "under a microsecond is none");
    }
}
