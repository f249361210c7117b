//! Human durations: `500ms`, `2s`, `1m30s`, `1h`, and bare seconds such as `1.5`.

use std::time::Duration;

/// Parses a duration written as bare seconds (`1.5`) or as numbers with units
/// (`ms`, `s`, `m`, `h`), which may be combined (`1m30s`).
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("expected a duration such as 500ms, 2s, 1m30s or 1.5".into());
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = s
            .parse()
            .map_err(|_| format!("'{s}' is not a number of seconds"))?;
        return from_secs(secs, s);
    }
    let mut total = 0.0_f64;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_len = rest[number_len..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len() - number_len);
        let (number, unit) = (
            &rest[..number_len],
            &rest[number_len..number_len + unit_len],
        );
        let value: f64 = number.parse().map_err(|_| {
            format!("'{s}' is not a duration (expected forms like 500ms, 2s, 1m30s or 1.5)")
        })?;
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => {
                return Err(format!(
                    "'{s}' has unknown unit '{unit}' (use ms, s, m or h)"
                ));
            }
        };
        total += value * scale;
        rest = &rest[number_len + unit_len..];
    }
    from_secs(total, s)
}

/// The longest duration accepted: a hundred years, far beyond any use, and far from the
/// overflow of a deadline (now + duration) that a longer one could cause.
const LONGEST_SECS: f64 = 100.0 * 365.0 * 24.0 * 3600.0;

fn from_secs(secs: f64, text: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|_| secs <= LONGEST_SECS)
        .ok_or_else(|| format!("'{text}' is out of range (at most 876000h, a hundred years)"))
}

/// Formats a duration for people and for `config` output, in a form [`parse`] accepts.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        if ms == 0 && !d.is_zero() {
            // A fraction of a millisecond, in a form `parse` accepts (it knows no `µs`).
            let text = format!("{:.6}", d.as_nanos() as f64 / 1e6);
            return format!("{}ms", text.trim_end_matches('0'));
        }
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        let text = format!("{:.1}s", d.as_secs_f64());
        return text.replace(".0s", "s");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let cases = [
            ("500ms", 500),
            ("2s", 2000),
            ("1m30s", 90_000),
            ("1.5", 1500),
            ("0", 0),
            ("0.25s", 250),
            ("1h", 3_600_000),
            ("1h2m3s", 3_723_000),
            (" 7 ", 7000),
            ("876000h", 3_153_600_000_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse(text), Ok(Duration::from_millis(ms)), "{text}");
        }
    }

    #[test]
    fn rejected_forms() {
        for text in [
            "",
            "abc",
            "5x",
            "-1",
            "1.2.3",
            "s",
            "inf",
            "NaN",
            "1e3",
            "10 s",
            "1e400",
            "876001h",
            "10000000000000000000",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn fractions_of_a_millisecond_are_shown_as_accepted() {
        for (d, shown) in [
            (Duration::from_micros(100), "0.1ms"),
            (Duration::from_nanos(1), "0.000001ms"),
            (Duration::from_micros(999), "0.999ms"),
        ] {
            assert_eq!(format(d), shown);
            assert_eq!(parse(shown), Ok(d), "{shown}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1, 250, 1000, 1500, 59_000, 60_000, 90_000, 3_723_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse(&format(d)), Ok(d), "{ms}ms formats as {}", format(d));
        }
    }
}
