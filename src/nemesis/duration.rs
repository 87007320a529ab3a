//! Durations as humantime-like strings in schedules: `"500ms"`, `"10s"`, `"2m"`,
//! `"1m30s"`, `"1h"`. Written back in the same units, largest first.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Reads `"1m30s"`-style text; units `h`, `m`, `s`, `ms`, each a whole number.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration like \"500ms\", \"10s\" or \"1m30s\"");
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let after = &rest[digits..];
        let unit = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
        let part = match &after[..unit] {
            "h" => Duration::from_secs(number * 3600),
            "m" => Duration::from_secs(number * 60),
            "s" => Duration::from_secs(number),
            "ms" => Duration::from_millis(number),
            _ => return Err(bad()),
        };
        total += part;
        rest = &after[unit..];
    }
    Ok(total)
}

/// Writes `d` as [`parse`] reads it; sub-millisecond parts are dropped.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// The same for an optional duration.
pub(crate) mod option {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_in_human_units() {
        #[rustfmt::skip]
        let cases = [
            ("500ms", 500),     ("10s", 10_000),  ("2m", 120_000),
            ("1m30s", 90_000),  ("1h", 3_600_000), ("1s250ms", 1250),
        ];
        for (text, ms) in cases {
            assert_eq!(parse(text), Ok(Duration::from_millis(ms)), "{text}");
            assert_eq!(format(Duration::from_millis(ms)), text);
        }
        assert_eq!(format(Duration::ZERO), "0s");
    }

    #[test]
    fn text_that_is_not_a_duration_is_refused() {
        for text in ["", "10", "s", "1.5s", "10 s", "3d", "-1s"] {
            assert!(parse(text).is_err(), "{text} parsed");
        }
    }
}
