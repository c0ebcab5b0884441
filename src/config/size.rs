//! Byte sizes as Prometheus parses `body_size_limit` (`units.Base2Bytes` of alecthomas/units):
//! base 2 (`KB` = `KiB` = 1024), a unit is required (`100` fails), fractions and sums such as
//! `1.5KB` or `1MB512KB` are allowed, and a bare `0` is zero.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const PREFIXES: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];

/// The multiplier of `unit`: `B`, or a prefix followed by `iB` or (old style) `B`.
fn unit_multiplier(unit: &str) -> Option<f64> {
    if unit == "B" {
        return Some(1.0);
    }
    let prefix = unit.strip_suffix("iB").or_else(|| unit.strip_suffix('B'))?;
    let power = PREFIXES.iter().skip(1).position(|p| *p == prefix)? + 1;
    Some(1024f64.powi(power as i32))
}

impl ByteSize {
    /// Parses like `units.ParseBase2Bytes`, with its error messages. A negative size, which
    /// Prometheus treats as "no limit", is 0.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || format!("units: invalid {text}");
        let mut s = text;
        let mut negative = false;
        if let Some(rest) = s.strip_prefix('-') {
            negative = true;
            s = rest;
        } else if let Some(rest) = s.strip_prefix('+') {
            s = rest;
        }
        if s == "0" {
            return Ok(ByteSize(0));
        }
        if s.is_empty() {
            return Err(invalid());
        }
        let mut total = 0f64;
        while !s.is_empty() {
            if !(s.starts_with('.') || s.starts_with(|c: char| c.is_ascii_digit())) {
                return Err(invalid());
            }
            let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut value = leading_int(&s[..int_len]).ok_or_else(invalid)?;
            s = &s[int_len..];
            let mut frac_len = 0;
            if let Some(rest) = s.strip_prefix('.') {
                frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
                let frac = leading_int(&rest[..frac_len]).ok_or_else(invalid)?;
                value += frac / 10f64.powi(frac_len as i32);
                s = &rest[frac_len..];
            }
            if int_len == 0 && frac_len == 0 {
                return Err(invalid());
            }
            let unit_len = s
                .bytes()
                .take_while(|b| *b != b'.' && !b.is_ascii_digit())
                .count();
            let unit = &s[..unit_len];
            s = &s[unit_len..];
            let multiplier = unit_multiplier(unit)
                .ok_or_else(|| format!("units: unknown unit {unit} in {text}"))?;
            total += value * multiplier;
        }
        if total >= 2f64.powi(63) {
            return Err("units: overflow parsing unit".to_string());
        }
        if negative {
            return Ok(ByteSize(0));
        }
        Ok(ByteSize(total as u64))
    }
}

/// `[0-9]*` as a float; `None` on the overflow Go's `leadingInt` reports.
fn leading_int(digits: &str) -> Option<f64> {
    let mut x: i64 = 0;
    for b in digits.bytes() {
        if x >= (i64::MAX - 10) / 10 {
            return None;
        }
        x = x * 10 + i64::from(b - b'0');
    }
    Some(x as f64)
}

/// Prints like `Base2Bytes.String()`: `15MiB`, `1KiB512B`, `0B`.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = self.0;
        let mut parts = Vec::new();
        for (i, prefix) in PREFIXES.iter().enumerate() {
            if !n.is_multiple_of(1024) || (i == 0 && n == 0) {
                let suffix = if i == 0 { "B" } else { "iB" };
                parts.push(format!("{}{prefix}{suffix}", n % 1024));
            }
            n /= 1024;
            if n == 0 {
                break;
            }
        }
        parts.reverse();
        f.write_str(&parts.concat())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ByteSize::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_two_with_unit_required() {
        assert_eq!(ByteSize::parse("10MB").unwrap().0, 10 << 20);
        assert_eq!(ByteSize::parse("1KB").unwrap().0, 1024);
        assert_eq!(ByteSize::parse("1KiB").unwrap().0, 1024);
        assert_eq!(ByteSize::parse("1.5KB").unwrap().0, 1536);
        assert_eq!(
            ByteSize::parse("1MB512KB").unwrap().0,
            (1 << 20) + (512 << 10)
        );
        assert_eq!(ByteSize::parse("0B").unwrap().0, 0);
        assert_eq!(ByteSize::parse("0").unwrap().0, 0);
        assert_eq!(ByteSize::parse("-1GB").unwrap().0, 0);
        assert_eq!(
            ByteSize::parse("100").unwrap_err(),
            "units: unknown unit  in 100"
        );
        assert_eq!(
            ByteSize::parse("1xB").unwrap_err(),
            "units: unknown unit xB in 1xB"
        );
        assert_eq!(
            ByteSize::parse("1kB").unwrap_err(),
            "units: unknown unit kB in 1kB"
        );
        assert_eq!(ByteSize::parse("MB").unwrap_err(), "units: invalid MB");
        assert_eq!(ByteSize::parse("").unwrap_err(), "units: invalid ");
        assert_eq!(ByteSize::parse(".B").unwrap_err(), "units: invalid .B");
        assert_eq!(
            ByteSize::parse("9000000EB").unwrap_err(),
            "units: overflow parsing unit"
        );
    }

    #[test]
    fn prints_like_go() {
        assert_eq!(ByteSize(15 << 20).to_string(), "15MiB");
        assert_eq!(ByteSize(1536).to_string(), "1KiB512B");
        assert_eq!(ByteSize(0).to_string(), "0B");
        assert_eq!(ByteSize(100).to_string(), "100B");
        for n in [0, 1, 1023, 1024, 1536, 15 << 20, (1 << 30) + 7] {
            assert_eq!(ByteSize::parse(&ByteSize(n).to_string()).unwrap().0, n);
        }
    }
}
