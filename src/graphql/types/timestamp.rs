//! The `DateTime` scalar: one textual form for every instant the API reads or writes.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

/// An instant of the API (see the scalar's description below).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

/// An instant, as an RFC 3339 date-time with an offset, such as `2026-12-04T15:54:01.123456Z`
/// or `2026-12-04T16:54:01+01:00`. The API returns UTC with exactly six fractional digits
/// (microseconds, the precision it stores), so a value read back equals the one written;
/// finer input is truncated to microseconds.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        let parsed = match &value {
            Value::String(text) => DateTime::parse_from_rfc3339(text).ok(),
            _ => None,
        };
        parsed
            .map(|instant| Self(instant.with_timezone(&Utc).trunc_subsecs(6)))
            .ok_or_else(|| {
                InputValueError::custom(format!(
                    "{value} is not an RFC 3339 date-time with an offset, such as \
                     \"2026-12-04T15:54:01.123456Z\" or \"2026-12-04T16:54:01+01:00\""
                ))
            })
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(instant: DateTime<Utc>) -> Self {
        Self(instant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_read_in_any_offset_and_written_in_utc_microseconds() {
        let parsed = Timestamp::parse(Value::String("2026-12-04T16:54:01.123456789+01:00".into()))
            .expect("valid");
        assert_eq!(
            parsed.to_value(),
            Value::String("2026-12-04T15:54:01.123456Z".into())
        );
        let whole = Timestamp::parse(Value::String("2026-12-04T15:54:01Z".into())).unwrap();
        assert_eq!(
            whole.to_value(),
            Value::String("2026-12-04T15:54:01.000000Z".into())
        );
    }

    #[test]
    fn other_forms_are_refused_with_the_expected_format() {
        for wrong in [
            Value::String("2026-12-04 15:54:01".into()),
            Value::String("2026-12-04T15:54:01".into()),
            Value::Number(5.into()),
        ] {
            let message = Timestamp::parse(wrong)
                .unwrap_err()
                .into_server_error(Default::default())
                .message;
            assert!(
                message.contains("RFC 3339 date-time with an offset"),
                "{message}"
            );
        }
    }
}
