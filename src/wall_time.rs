//! Wall-clock timestamps, written the way sysdig prints `evt.outputtime` (local time of
//! day with nanoseconds, `16:17:57.881730713`) and its other time formats. Shared by the
//! event fields (`evt.datetime`...) and the printers, so neither depends on the other.
//!
//! The local UTC offset comes from libc's `localtime_r` (which reads /etc/localtime and TZ,
//! no NSS involved), asked once per distinct second, so the hot path is integer arithmetic.

#[derive(Default)]
pub struct LocalClock {
    cached_sec: i64,
    cached_offset: i64,
    valid: bool,
    /// `HH:MM:SS.` of `prefix_sec` (events come in time order: one second's worth of
    /// events shares it).
    prefix: [u8; 9],
    prefix_sec: Option<i64>,
}

/// "00" to "99", two bytes each.
const TWO_DIGITS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

fn two(v: u64) -> [u8; 2] {
    let i = (v % 100) as usize * 2;
    [TWO_DIGITS[i], TWO_DIGITS[i + 1]]
}

impl LocalClock {
    /// Seconds east of UTC in force at `epoch_sec`.
    pub fn offset_at(&mut self, epoch_sec: i64) -> i64 {
        if !self.valid || self.cached_sec != epoch_sec {
            self.cached_offset = utc_offset(epoch_sec);
            self.cached_sec = epoch_sec;
            self.valid = true;
        }
        self.cached_offset
    }

    /// Appends `HH:MM:SS.nnnnnnnnn` for `ts_ns` (ns since the epoch) in local time.
    pub fn write_time_of_day(&mut self, ts_ns: u64, out: &mut Vec<u8>) {
        let secs = (ts_ns / 1_000_000_000) as i64;
        if self.prefix_sec != Some(secs) {
            let local = secs + self.offset_at(secs);
            let day = local.rem_euclid(86_400) as u64;
            let (h, m, s) = (two(day / 3600), two(day / 60 % 60), two(day % 60));
            self.prefix = [h[0], h[1], b':', m[0], m[1], b':', s[0], s[1], b'.'];
            self.prefix_sec = Some(secs);
        }
        out.extend_from_slice(&self.prefix);
        let n = ts_ns % 1_000_000_000;
        let (a, b, c, d) = (
            two(n / 10_000_000),
            two(n / 100_000),
            two(n / 1_000),
            two(n / 10),
        );
        out.extend_from_slice(&[
            a[0],
            a[1],
            b[0],
            b[1],
            c[0],
            c[1],
            d[0],
            d[1],
            b'0' + (n % 10) as u8,
        ]);
    }
}

/// Seconds east of UTC in force at `epoch_sec`.
pub fn utc_offset(epoch_sec: i64) -> i64 {
    crate::perf::sys::local_utc_offset(epoch_sec)
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD HH:MM:SS[.nnnnnnnnn]` at `offset_s` seconds east of UTC.
pub fn format_datetime(ts_ns: u64, offset_s: i64, with_ns: bool) -> String {
    let secs = (ts_ns / 1_000_000_000) as i64 + offset_s;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        t / 3600,
        t / 60 % 60,
        t % 60
    );
    if with_ns {
        s.push_str(&format!(".{:09}", ts_ns % 1_000_000_000));
    }
    s
}

/// ISO 8601 in UTC with nanoseconds: `2016-08-04T16:17:57.881730713Z`.
pub fn format_iso8601(ts_ns: u64) -> String {
    let mut s = format_datetime(ts_ns, 0, true);
    s.replace_range(10..11, "T");
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_from_epoch_nanoseconds() {
        assert_eq!(
            format_datetime(1_470_327_477_881_730_713, 0, true),
            "2016-08-04 16:17:57.881730713"
        );
        assert_eq!(format_datetime(0, 0, false), "1970-01-01 00:00:00");
        assert_eq!(
            format_datetime(951_782_400_000_000_000, 0, false),
            "2000-02-29 00:00:00"
        );
        assert_eq!(
            format_iso8601(1_470_327_477_000_000_001),
            "2016-08-04T16:17:57.000000001Z"
        );
    }

    use super::*;

    #[test]
    fn renders_nanoseconds_and_wraps_the_day() {
        let mut c = LocalClock {
            cached_sec: 1_470_327_477,
            cached_offset: 0,
            valid: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        c.write_time_of_day(1_470_327_477_881_730_713, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "16:17:57.881730713");
        let mut c = LocalClock {
            cached_sec: 0,
            cached_offset: -3600,
            valid: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        c.write_time_of_day(5, &mut out);
        c.write_time_of_day(987_654_321, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "23:00:00.00000000523:00:00.987654321"
        );
    }
}

/// How `evt.outputtime` is shown in text (`-t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeMode {
    /// `h`: local time of day with nanoseconds (the default).
    #[default]
    Human,
    /// `a`: seconds since the epoch, `1470327477.881730713`.
    Absolute,
    /// `r`: seconds since the first event shown.
    Relative,
    /// `d`: for exits, the time since the matching entry (0 when unknown).
    EnterExit,
    /// `D`: seconds since the previous event shown.
    SincePrevious,
}

impl TimeMode {
    pub fn parse(s: &str) -> Result<TimeMode, String> {
        Ok(match s {
            "h" => TimeMode::Human,
            "a" => TimeMode::Absolute,
            "r" => TimeMode::Relative,
            "d" => TimeMode::EnterExit,
            "D" => TimeMode::SincePrevious,
            other => return Err(format!("-t {other}: expected h, a, r, d or D")),
        })
    }
}

/// `evt.outputtime` in text, as `-t` chose: shared by the default line and `-p`.
#[derive(Default)]
pub struct OutputTime {
    clock: LocalClock,
    mode: TimeMode,
}

impl OutputTime {
    pub fn new(mode: TimeMode) -> OutputTime {
        OutputTime {
            clock: LocalClock::default(),
            mode,
        }
    }

    pub fn write(&mut self, view: &crate::fields::EventView<'_>, out: &mut Vec<u8>) {
        let ts = view.ev.ts;
        match self.mode {
            TimeMode::Human => self.clock.write_time_of_day(ts, out),
            TimeMode::Absolute => write_seconds(ts, out),
            TimeMode::Relative => write_seconds(ts.saturating_sub(view.clock.first_ts), out),
            TimeMode::SincePrevious => {
                let prev = if view.clock.prev_ts == 0 {
                    ts
                } else {
                    view.clock.prev_ts
                };
                write_seconds(ts.saturating_sub(prev), out)
            }
            TimeMode::EnterExit => write_seconds(view.latency().unwrap_or(0), out),
        }
    }
}

/// Appends `secs.nnnnnnnnn` for a duration or an absolute time in ns.
pub fn write_seconds(ns: u64, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
}
