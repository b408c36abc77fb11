//! [`DateTime`]: a date-time as the API sends it, with or without a zone.

use std::fmt;

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};

/// A date and time of the API ([wire rule](crate::wire) R3.8): a local date-time and, when the
/// text had one, its UTC offset. A value read without a zone stays without
/// one (it is in the engine's time zone), so nothing is invented.
///
/// ```
/// use ovirt::xml::DateTime;
/// let t = DateTime::parse("2016-09-08T09:53:35.138+02:00").unwrap();
/// assert_eq!(t.to_string(), "2016-09-08T09:53:35.138+02:00");
/// assert_eq!(DateTime::parse("2024-05-01T10:00:00Z").unwrap().to_string(), "2024-05-01T10:00:00.000Z");
/// assert_eq!(DateTime::parse("2024-05-01T10:00:00").unwrap().offset(), None);
/// assert_eq!(DateTime::parse("2024-05-01T10:00:00+0100").unwrap().to_string(), "2024-05-01T10:00:00.000+01:00");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    local: NaiveDateTime,
    offset: Option<FixedOffset>,
}

impl DateTime {
    /// A date-time with a UTC offset.
    pub fn new(value: chrono::DateTime<FixedOffset>) -> Self {
        DateTime {
            local: value.naive_local(),
            offset: Some(*value.offset()),
        }
    }

    /// A date-time without a zone.
    pub fn naive(local: NaiveDateTime) -> Self {
        DateTime {
            local,
            offset: None,
        }
    }

    /// The date and time as written (in the offset's zone, if any).
    pub fn naive_local(&self) -> NaiveDateTime {
        self.local
    }

    /// The UTC offset, if the value has one.
    pub fn offset(&self) -> Option<FixedOffset> {
        self.offset
    }

    /// The value as a zone-aware chrono date-time, if it has an offset.
    pub fn to_fixed(&self) -> Option<chrono::DateTime<FixedOffset>> {
        let off = self.offset?;
        off.from_local_datetime(&self.local).single()
    }

    /// Parses XML Schema `dateTime` text: `YYYY-MM-DDThh:mm:ss`, an optional
    /// fraction of any length, and an optional zone (`Z`, `+hh:mm`, `-hh:mm`; also
    /// `+hhmm` and `+hh`, which some servers write).
    pub fn parse(text: &str) -> Result<DateTime, String> {
        let b = text.as_bytes();
        if b.len() < 19 || b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
            return Err("expected YYYY-MM-DDThh:mm:ss".into());
        }
        let date = NaiveDate::parse_from_str(&text[..10], "%Y-%m-%d")
            .map_err(|e| format!("bad date: {e}"))?;
        let num = |s: &str| match s.bytes().all(|c| c.is_ascii_digit()) {
            true => s.parse::<u32>().map_err(|_| format!("bad number `{s}`")),
            false => Err(format!("bad number `{s}`")),
        };
        if !text.is_char_boundary(19) || b[13] != b':' || b[16] != b':' {
            return Err("expected hh:mm:ss after the date".into());
        }
        let (h, m, s) = (
            num(&text[11..13])?,
            num(&text[14..16])?,
            num(&text[17..19])?,
        );
        let mut rest = &text[19..];
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err("expected digits after `.`".into());
            }
            for (i, d) in frac.bytes().take(9).take(digits).enumerate() {
                nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
            }
            rest = &frac[digits..];
        }
        let time = NaiveTime::from_hms_nano_opt(h, m, s, nanos).ok_or("time out of range")?;
        let offset = match rest {
            "" => None,
            "Z" | "z" => Some(FixedOffset::east_opt(0).expect("zero offset")),
            // `+hh:mm` (XML Schema), and the ISO 8601 forms `+hhmm` and `+hh` that some
            // servers write (Java's `Z` pattern gives `+0100`).
            z if z.is_ascii()
                && (z.starts_with('+') || z.starts_with('-'))
                && (z.len() == 6 && &z[3..4] == ":" || z.len() == 5 || z.len() == 3) =>
            {
                let minutes = match z.len() {
                    6 => num(&z[4..6])?,
                    5 => num(&z[3..5])?,
                    _ => 0,
                };
                let (hours, minutes) = (num(&z[1..3])?, minutes);
                if hours > 23 || minutes > 59 {
                    return Err(format!(
                        "bad zone `{z}` (hours above 23 or minutes above 59)"
                    ));
                }
                let secs = (hours * 3600 + minutes * 60) as i32;
                let secs = if z.starts_with('-') { -secs } else { secs };
                Some(FixedOffset::east_opt(secs).ok_or("offset out of range")?)
            }
            z => {
                return Err(format!(
                    "bad zone `{z}` (expected Z, +hh:mm, +hhmm or +hh, or `-` for `+`)"
                ))
            }
        };
        Ok(DateTime {
            local: NaiveDateTime::new(date, time),
            offset,
        })
    }
}

impl<Tz: TimeZone> From<chrono::DateTime<Tz>> for DateTime {
    fn from(value: chrono::DateTime<Tz>) -> Self {
        let off = value.offset().fix();
        DateTime::new(value.with_timezone(&off))
    }
}

impl fmt::Display for DateTime {
    /// Writes the value with milli-, micro- or nanoseconds as needed and the
    /// offset when there is one (`Z` for zero).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::Timelike;
        let nanos = self.local.nanosecond();
        let frac = if nanos % 1_000_000 == 0 {
            "%.3f"
        } else if nanos % 1000 == 0 {
            "%.6f"
        } else {
            "%.9f"
        };
        write!(
            f,
            "{}",
            self.local.format(&format!("%Y-%m-%dT%H:%M:%S{frac}"))
        )?;
        match self.offset {
            None => Ok(()),
            Some(o) if o.local_minus_utc() == 0 => f.write_str("Z"),
            Some(o) => {
                let s = o.local_minus_utc();
                let sign = if s < 0 { '-' } else { '+' };
                let a = s.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
            }
        }
    }
}
