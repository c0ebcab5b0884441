//! Byte sizes as Prometheus parses `body_size_limit`: base 2, unit required (`KB` = 1024).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const UNITS: [(&str, u64); 7] = [
    ("EB", 1 << 60),
    ("PB", 1 << 50),
    ("TB", 1 << 40),
    ("GB", 1 << 30),
    ("MB", 1 << 20),
    ("KB", 1 << 10),
    ("B", 1),
];

impl ByteSize {
    pub fn parse(text: &str) -> Result<Self, String> {
        let digits = text.bytes().take_while(|b| b.is_ascii_digit()).count();
        let (number, unit) = text.split_at(digits);
        let multiplier = UNITS
            .iter()
            .chain(&[("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40)])
            .find(|(name, _)| *name == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| format!("units: unknown unit {unit} in {text}"))?;
        let number: u64 = number.parse().map_err(|_| format!("units: invalid size {text:?}"))?;
        number
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| format!("units: size out of range in {text}"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        let (unit, mult) = UNITS.iter().find(|(_, m)| self.0 % m == 0).copied().unwrap_or(("B", 1));
        write!(f, "{}{unit}", self.0 / mult)
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
        assert_eq!(ByteSize::parse("0B").unwrap().0, 0);
        assert_eq!(ByteSize::parse("100").unwrap_err(), "units: unknown unit  in 100");
        assert_eq!(ByteSize::parse("1xB").unwrap_err(), "units: unknown unit xB in 1xB");
        assert_eq!(ByteSize(15 << 20).to_string(), "15MB");
    }
}
