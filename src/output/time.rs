//! Wall-clock timestamps rendered the way sysdig prints `evt.outputtime`: local time of
//! day with nanoseconds, `16:17:57.881730713`.
//!
//! The local UTC offset comes from libc's `localtime_r` (which reads /etc/localtime and TZ,
//! no NSS involved), asked once per distinct second, so the hot path is integer arithmetic.

#[derive(Default)]
pub struct LocalClock {
    cached_sec: i64,
    cached_offset: i64,
    valid: bool,
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
        let nanos = ts_ns % 1_000_000_000;
        let local = secs + self.offset_at(secs);
        let day_secs = local.rem_euclid(86_400);
        push_2(out, (day_secs / 3600) as u32);
        out.push(b':');
        push_2(out, ((day_secs / 60) % 60) as u32);
        out.push(b':');
        push_2(out, (day_secs % 60) as u32);
        out.push(b'.');
        let mut digits = [b'0'; 9];
        let mut n = nanos;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        out.extend_from_slice(&digits);
    }
}

fn push_2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn utc_offset(epoch_sec: i64) -> i64 {
    let t: libc::time_t = epoch_sec as libc::time_t;
    // SAFETY: localtime_r writes only into the `tm` we own; both pointers are valid for the
    // call. An all-zero `tm` is a valid value of that plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok { tm.tm_gmtoff } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nanoseconds_and_wraps_the_day() {
        let mut c = LocalClock {
            cached_sec: 1_470_327_477,
            cached_offset: 0,
            valid: true,
        };
        let mut out = Vec::new();
        c.write_time_of_day(1_470_327_477_881_730_713, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "16:17:57.881730713");
        let mut c = LocalClock {
            cached_sec: 0,
            cached_offset: -3600,
            valid: true,
        };
        let mut out = Vec::new();
        c.write_time_of_day(5, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "23:00:00.000000005");
    }
}
