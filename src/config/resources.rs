//! The cgroup v2 fields: `memory-max`, `memory-high`, `cpu-weight`, `cpu-max`, `pids-max`.
//! Bad values are load errors naming the field and the value (`"512X"`, `"-1"`, `"0%"`).

use kdl::KdlValue;

use super::fields::Field;
use super::parse::ServiceReader;
use super::{values, ConfigError, Resources};

const CPU_MAX_EXPECTED: &str =
    r#"expected a share of one CPU such as "50%" or "250%" (from "1%" to "100000%")"#;

pub(super) fn read(reader: &mut ServiceReader<'_>) -> Resources {
    Resources {
        memory_max: reader.read("memory-max", memory),
        memory_high: reader.read("memory-high", memory),
        cpu_weight: reader
            .read("cpu-weight", |f| {
                f.integer(1..=10_000, "expected an integer from 1 to 10000")
            })
            .map(|n| n as u32),
        cpu_max_percent: reader.read("cpu-max", |f| f.word(CPU_MAX_EXPECTED, cpu_max)),
        pids_max: reader
            .read("pids-max", |f| {
                f.integer(1..=i128::from(u32::MAX), "expected an integer ≥ 1")
            })
            .map(|n| n as u64),
    }
}

/// A size greater than zero: `memory-max "0"` would kill the service at once.
fn memory(field: &Field<'_>) -> Result<u64, ConfigError> {
    const EXPECTED: &str = r#"expected a size greater than 0 such as "512M" or "2G""#;
    let entry = field.single(EXPECTED)?;
    let parsed = match entry.value() {
        KdlValue::String(text) => values::size(text),
        KdlValue::Integer(number) => values::size_from_integer(*number),
        _ => Err(values::Expected::Size),
    };
    match parsed {
        Ok(bytes) if bytes > 0 => Ok(bytes),
        Ok(_) => Err(field.invalid(EXPECTED, entry)),
        Err(_) => Err(field.invalid(EXPECTED, entry)),
    }
}

/// `"50%"` → 50.
fn cpu_max(text: &str) -> Result<u32, String> {
    text.trim()
        .strip_suffix('%')
        .and_then(|number| number.trim().parse::<u32>().ok())
        .filter(|percent| (1..=100_000).contains(percent))
        .ok_or_else(|| CPU_MAX_EXPECTED.to_string())
}

/// A size as the user reads it back: `512M`, `1G`, `1536K`, `100B`.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (unit, suffix) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_is_a_percentage_of_one_cpu() {
        assert_eq!(cpu_max("50%"), Ok(50));
        assert_eq!(cpu_max("250%"), Ok(250));
        assert!(cpu_max("0%").is_err());
        assert!(cpu_max("50").is_err());
        assert!(cpu_max("-5%").is_err());
    }

    #[test]
    fn sizes_read_back_in_the_largest_whole_unit() {
        assert_eq!(size_text(512 << 20), "512M");
        assert_eq!(size_text(1 << 30), "1G");
        assert_eq!(size_text(1536 << 10), "1536K");
        assert_eq!(size_text(100), "100B");
    }
}
