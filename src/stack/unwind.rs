//! Walking a user stack copy with CFI rows: the return addresses of code built without
//! frame pointers.
//!
//! A `-k` sample carries the user registers at the system call (ip, sp, bp) and a copy of
//! the user stack from sp upwards (PERF_SAMPLE_REGS_USER, PERF_SAMPLE_STACK_USER). For
//! each frame, the CFI row of its address ([`super::cfi`]) says where the caller's frame
//! starts (the CFA, from rsp or rbp plus an offset), where the return address was stored
//! and whether rbp was saved; the caller's sp is the CFA. The walk reads only the copy, so
//! it is exact for the moment of the sample and stops, rather than guesses, when:
//! an address has no CFI (JIT code, an object that could not be read), a rule is not
//! understood (DWARF expressions), a slot lies outside the copy (a stack deeper than the
//! copy), the return address is undefined or 0 (the outermost frame: `_start`, a thread's
//! start), or the CFA does not move up (corrupt data).
//!
//! I/O-free: the caller maps addresses to rows (through the process's mappings and each
//! file's tables) with a closure.

use super::cfi::{Cfa, REG_RBP, REG_RSP, Row, Rule};

/// The registers the walk starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserRegs {
    pub ip: u64,
    pub sp: u64,
    pub bp: u64,
}

impl UserRegs {
    /// From a sample's REGS_USER values, in [`USER_REGS_MASK`](crate::perf::attr::USER_REGS_MASK)
    /// order: bp, sp, ip. `None` when the sample has no registers.
    pub fn from_sample(words: &[u8]) -> Option<UserRegs> {
        let w = |i: usize| -> Option<u64> {
            let b = words.get(i * 8..i * 8 + 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Some(u64::from_ne_bytes(a))
        };
        Some(UserRegs {
            bp: w(0)?,
            sp: w(1)?,
            ip: w(2)?,
        })
    }
}

/// Why the walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The return address is undefined or 0: the first frame of the thread. A complete
    /// stack.
    Outermost,
    /// No CFI covers this address.
    NoCfi(u64),
    /// A rule the walk does not evaluate (expression, untracked register).
    Unsupported(u64),
    /// A slot at this address lies outside the stack copy.
    OutsideCopy(u64),
    /// The CFA did not move up the stack.
    NoProgress,
    /// The frame limit was reached.
    Limit,
}

/// The walk's result: the sampled ip, then return addresses, innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unwound {
    pub ips: Vec<u64>,
    pub stop: Stop,
}

/// Unwinds from `regs` through `stack` (the bytes at `regs.sp` upwards), asking `row` for
/// the rules at each address: the sampled ip itself, then each return address minus one
/// (the call instruction, which may be the last of its function).
pub fn unwind(
    regs: UserRegs,
    stack: &[u8],
    max_frames: usize,
    mut row: impl FnMut(u64) -> Option<Row>,
) -> Unwound {
    let base = regs.sp;
    let read = |addr: u64| -> Result<u64, Stop> {
        let off = addr.checked_sub(base).ok_or(Stop::OutsideCopy(addr))?;
        let off = usize::try_from(off).map_err(|_| Stop::OutsideCopy(addr))?;
        let b = off
            .checked_add(8)
            .and_then(|e| stack.get(off..e))
            .ok_or(Stop::OutsideCopy(addr))?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_ne_bytes(a))
    };
    let mut r = regs;
    let mut ips = vec![r.ip];
    let stop = loop {
        if ips.len() >= max_frames {
            break Stop::Limit;
        }
        let pc = if ips.len() == 1 {
            r.ip
        } else {
            r.ip.saturating_sub(1)
        };
        let Some(rw) = row(pc) else {
            break Stop::NoCfi(r.ip);
        };
        match step(&r, &rw, &read) {
            Ok(next) => {
                if next.sp <= r.sp {
                    break Stop::NoProgress;
                }
                ips.push(next.ip);
                r = next;
            }
            Err(Stop::Outermost) => break Stop::Outermost,
            Err(Stop::Unsupported(_)) => break Stop::Unsupported(r.ip),
            Err(s) => break s,
        }
    };
    Unwound { ips, stop }
}

/// The caller's registers, or why there is none.
fn step(
    r: &UserRegs,
    row: &Row,
    read: &impl Fn(u64) -> Result<u64, Stop>,
) -> Result<UserRegs, Stop> {
    let unsupported = Err(Stop::Unsupported(r.ip));
    let cfa = match row.cfa {
        Cfa::RegOffset {
            reg: REG_RSP,
            offset,
        } => r.sp.wrapping_add_signed(offset),
        Cfa::RegOffset {
            reg: REG_RBP,
            offset,
        } => r.bp.wrapping_add_signed(offset),
        _ => return unsupported,
    };
    let ip = match row.ra {
        Rule::Offset(o) => read(cfa.wrapping_add_signed(o))?,
        Rule::Undefined => return Err(Stop::Outermost),
        _ => return unsupported,
    };
    if ip == 0 {
        return Err(Stop::Outermost);
    }
    let bp = match row.rbp {
        Rule::SameValue | Rule::Undefined => r.bp,
        Rule::Offset(o) => read(cfa.wrapping_add_signed(o))?,
        Rule::ValOffset(o) => cfa.wrapping_add_signed(o),
        Rule::Register(REG_RSP) => r.sp,
        Rule::Register(REG_RBP) => r.bp,
        Rule::Register(_) | Rule::Unsupported => return unsupported,
    };
    Ok(UserRegs { ip, sp: cfa, bp })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cfa_reg: u16, off: i64, rbp: Rule) -> Row {
        Row {
            cfa: Cfa::RegOffset {
                reg: cfa_reg,
                offset: off,
            },
            ra: Rule::Offset(-8),
            rbp,
            signal_frame: false,
        }
    }

    fn words(w: &[u64]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }

    /// Three frames without frame pointers: `leaf` (at 0x1000, CFA rsp+8), `mid` (0x2000,
    /// 24 bytes of locals: CFA rsp+32), `top` (0x3000, pushed rbp: CFA rbp+16 and rbp
    /// saved at CFA-16), whose caller is `_start` (return address undefined).
    #[test]
    fn walks_frames_with_rsp_and_rbp_based_cfas() {
        let sp = 0x7ffd_0000u64;
        let stack = words(&[
            0x2010, // sp+0: leaf's return address into mid
            0, 0, 0,      // mid's locals
            0x3020, // sp+32: mid's return address into top
            0xdead, // sp+40: top's saved rbp (the caller's)
            0x4008, // sp+48: top's return address into _start
        ]);
        let regs = UserRegs {
            ip: 0x1004,
            sp,
            bp: sp + 40, // top set rbp after its push
        };
        let lookup = |pc: u64| match pc {
            0x1000..0x1100 => Some(row(REG_RSP, 8, Rule::SameValue)),
            0x2000..0x2100 => Some(row(REG_RSP, 32, Rule::SameValue)),
            0x3000..0x3100 => Some(row(REG_RBP, 16, Rule::Offset(-16))),
            0x4000..0x4100 => Some(Row {
                ra: Rule::Undefined,
                ..row(REG_RSP, 8, Rule::SameValue)
            }),
            _ => None,
        };
        let u = unwind(regs, &stack, 64, lookup);
        assert_eq!(u.ips, vec![0x1004, 0x2010, 0x3020, 0x4008]);
        assert_eq!(u.stop, Stop::Outermost);
        // A frame limit, a copy too short, an address without CFI.
        assert_eq!(unwind(regs, &stack, 2, lookup).stop, Stop::Limit);
        let u = unwind(regs, &stack[..32], 64, lookup);
        assert_eq!((u.ips.len(), u.stop), (2, Stop::OutsideCopy(sp + 32)));
        let u = unwind(UserRegs { ip: 0x9000, ..regs }, &stack, 64, lookup);
        assert_eq!((u.ips.len(), u.stop), (1, Stop::NoCfi(0x9000)));
        // A CFA that does not move up stops the walk.
        let flat = Row {
            ra: Rule::Offset(0),
            ..row(REG_RSP, 0, Rule::SameValue)
        };
        let u = unwind(regs, &stack, 64, |_| Some(flat));
        assert_eq!(u.stop, Stop::NoProgress);
        // No registers, no walk.
        assert_eq!(UserRegs::from_sample(&[0; 16]), None);
        let r = UserRegs::from_sample(&words(&[1, 2, 3])).unwrap();
        assert_eq!((r.bp, r.sp, r.ip), (1, 2, 3));
    }

    /// Real rules: three addresses of the system C library whose rows put the CFA at
    /// rsp+16 or more (inside frames that pushed registers or made room for locals), and a
    /// stack laid out the way those rows say. The walk must land on each return address.
    #[test]
    fn walks_a_stack_laid_out_by_the_c_librarys_own_rules() {
        use super::super::cfi::CfiTable;
        use crate::probes::elf::Elf;
        let Ok(bytes) = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6") else {
            return;
        };
        let t = CfiTable::parse(&Elf::parse(&bytes).unwrap()).unwrap();
        let elf = Elf::parse(&bytes).unwrap();
        let ranges = elf.function_ranges().unwrap();
        // (pc, cfa offset) of rows "CFA = rsp+N, N >= 16, return address at CFA-8".
        let mut picks: Vec<(u64, i64)> = Vec::new();
        for r in ranges.iter().step_by(97) {
            let pc = r.start + r.len / 2;
            if let Some(Row {
                cfa:
                    Cfa::RegOffset {
                        reg: REG_RSP,
                        offset,
                    },
                ra: Rule::Offset(-8),
                ..
            }) = t.row(pc).unwrap()
                && (16..512).contains(&offset)
            {
                picks.push((pc, offset));
            }
            if picks.len() == 3 {
                break;
            }
        }
        assert_eq!(picks.len(), 3, "libc has frames with locals");
        // Frame i's return address (into frame i+1's pc, as after a call) sits at
        // CFA_i - 8; the last frame returns to 0 (the outermost frame).
        let sp = 0x7ffe_1000u64;
        let mut stack = Vec::new();
        let mut cfa = sp;
        let mut want = vec![picks[0].0];
        for (i, &(_, off)) in picks.iter().enumerate() {
            cfa += off as u64;
            stack.resize((cfa - sp) as usize, 0);
            let ra = picks.get(i + 1).map_or(0, |p| p.0 + 1);
            stack[(cfa - sp) as usize - 8..].copy_from_slice(&ra.to_ne_bytes());
            if ra != 0 {
                want.push(ra);
            }
        }
        let regs = UserRegs {
            ip: picks[0].0,
            sp,
            bp: 0,
        };
        let u = unwind(regs, &stack, 64, |pc| t.row(pc).ok().flatten());
        assert_eq!(u.ips, want);
        assert_eq!(u.stop, Stop::Outermost);
    }

    #[test]
    fn never_panics_on_hostile_rows() {
        let stack = words(&[u64::MAX, 0, 8, u64::MAX - 7]);
        for off in [i64::MIN, -8, 0, 8, i64::MAX] {
            for rbp in [Rule::Offset(off), Rule::ValOffset(off), Rule::Register(3)] {
                let regs = UserRegs {
                    ip: 1,
                    sp: u64::MAX - 16,
                    bp: u64::MAX,
                };
                let _ = unwind(regs, &stack, 16, |_| Some(row(REG_RBP, off, rbp)));
                let _ = unwind(regs, &stack, 16, |_| Some(row(REG_RSP, off, rbp)));
            }
        }
    }
}
