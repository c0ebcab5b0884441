//! Durations as Prometheus writes them (`1m30s`, `5m`, `0`), see prometheus/common `model/time.go`.

use super::quote::go_quote;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration with millisecond precision that parses and prints like Prometheus' `model.Duration`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub Duration);

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl PromDuration {
    pub const ZERO: PromDuration = PromDuration(Duration::ZERO);

    pub fn from_secs(secs: u64) -> Self {
        PromDuration(Duration::from_secs(secs))
    }

    pub fn from_millis(ms: u64) -> Self {
        PromDuration(Duration::from_millis(ms))
    }

    pub fn as_millis(self) -> u64 {
        self.0.as_millis() as u64
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses `<int><unit>` pairs in strictly descending unit order; a bare `0` is allowed.
    /// Errors are worded as prometheus/common `model.ParseDuration` words them.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "0" => return Ok(PromDuration::ZERO),
            "" => return Err("empty duration string".to_string()),
            _ => {}
        }
        let invalid = || format!("not a valid duration string: {}", go_quote(text));
        let mut rest = text;
        let mut total_ns: u64 = 0;
        // Index into UNITS of the last unit seen; the next must come strictly later.
        let mut next_allowed = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(invalid());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            // The unit is everything up to the next digit, as in Go.
            let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
            if unit_len == 0 {
                return Err(invalid());
            }
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let index = UNITS
                .iter()
                .position(|(name, _)| *name == unit)
                .ok_or_else(|| {
                    format!(
                        "unknown unit {} in duration {}",
                        go_quote(unit),
                        go_quote(text)
                    )
                })?;
            if index < next_allowed {
                return Err(invalid());
            }
            next_allowed = index + 1;
            let unit_ns = UNITS[index].1 * 1_000_000;
            if number > (1u64 << 63) / unit_ns {
                return Err("duration out of range".to_string());
            }
            total_ns += number * unit_ns;
            if total_ns > i64::MAX as u64 {
                return Err("duration out of range".to_string());
            }
        }
        Ok(PromDuration(Duration::from_nanos(total_ns)))
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (i, (unit, mult)) in UNITS.iter().enumerate() {
            // Years and weeks are used only when they divide exactly.
            if i < 2 && !ms.is_multiple_of(*mult) {
                continue;
            }
            let count = ms / mult;
            if count > 0 {
                write!(f, "{count}{unit}")?;
                ms -= count * mult;
            }
        }
        Ok(())
    }
}

impl From<PromDuration> for Duration {
    fn from(d: PromDuration) -> Duration {
        d.0
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PromDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_like_prometheus() {
        let cases = [
            ("0", "0s", 0),
            ("0s", "0s", 0),
            ("90s", "1m30s", 90_000),
            ("1h30m", "1h30m", 5_400_000),
            ("1d", "1d", 86_400_000),
            ("14d", "2w", 14 * 86_400_000),
            ("8d", "8d", 8 * 86_400_000),
            ("365d", "1y", 365 * 86_400_000),
            ("1y1d", "366d", 366 * 86_400_000),
            ("500ms", "500ms", 500),
            ("1s500ms", "1s500ms", 1500),
            ("1m0s", "1m", 60_000),
        ];
        for (text, printed, ms) in cases {
            let d = PromDuration::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(d.as_millis(), ms, "{text}");
            assert_eq!(d.to_string(), printed, "{text}");
        }
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        for text in ["1", "s", "1s1m", "1m1m", "-1s", "1ms1s", "1h1d"] {
            let err = PromDuration::parse(text).unwrap_err();
            assert_eq!(
                err,
                format!("not a valid duration string: {text:?}"),
                "{text}"
            );
        }
        for (text, unit) in [
            ("1.5s", "."),
            ("1 s", " s"),
            ("1S", "S"),
            ("10x", "x"),
            ("5sec", "sec"),
            ("1µs", "µs"),
        ] {
            let err = PromDuration::parse(text).unwrap_err();
            assert_eq!(
                err,
                format!("unknown unit {unit:?} in duration {text:?}"),
                "{text}"
            );
        }
        assert_eq!(
            PromDuration::parse("").unwrap_err(),
            "empty duration string"
        );
        assert_eq!(
            PromDuration::parse("99999999999999999y").unwrap_err(),
            "duration out of range"
        );
        assert_eq!(
            PromDuration::parse("300y").unwrap_err(),
            "duration out of range"
        );
        assert_eq!(
            PromDuration::parse("99999999999999999999s").unwrap_err(),
            "not a valid duration string: \"99999999999999999999s\""
        );
        assert_eq!(
            PromDuration::parse("292y").unwrap().as_millis(),
            292 * 365 * 86_400_000
        );
    }
}
