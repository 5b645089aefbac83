//! Times as operators read and write them: ISO 8601 UTC, or Unix seconds.

use gpcguard::connection::pki::unix_time;

/// Unix seconds as `2026-12-06T18:00:00Z` (proleptic Gregorian, UTC).
pub fn iso(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `--at`: Unix seconds (digits, optionally after `@`) or `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix('@').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.parse().map_err(|_| format!("--at {text}: out of range"));
    }
    let b = text.as_bytes();
    let shape_ok = b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(format!("--at {text}: not Unix seconds or YYYY-MM-DDTHH:MM:SSZ"));
    }
    let compact: String = text.chars().filter(|c| c.is_ascii_digit()).collect::<String>() + "Z";
    let t = openssl::asn1::Asn1Time::from_str(&compact).map_err(|_| format!("--at {text}: not a valid date and time"))?;
    Ok(unix_time(&t))
}

/// "in 3d 4h" / "2h 5m ago": how far `t` is from `now`, for humans.
pub fn relative(t: i64, now: i64) -> String {
    let d = t.saturating_sub(now);
    let a = d.unsigned_abs();
    let text = if a >= 86_400 {
        format!("{}d {}h", a / 86_400, a % 86_400 / 3600)
    } else if a >= 3600 {
        format!("{}h {}m", a / 3600, a % 3600 / 60)
    } else {
        format!("{}m {}s", a / 60, a % 60)
    };
    if d >= 0 { format!("in {text}") } else { format!("{text} ago") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_and_parse_agree() {
        for t in [0, 951_782_400, 1_798_761_599, 1_796_601_600] {
            assert_eq!(parse(&iso(t)).unwrap(), t, "{}", iso(t));
        }
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(parse("@12").unwrap(), 12);
        assert!(parse("2026-13-01T00:00:00Z").is_err());
        assert!(parse("yesterday").is_err());
    }
}
