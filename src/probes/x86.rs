//! x86-64 instruction boundaries, and the `syscall` sites whose number is known.
//!
//! A uprobe replaces the first byte of an instruction with `int3`; placed anywhere else it
//! corrupts every process that runs the code. So a `syscall` instruction is probed only
//! where a linear decode from a function's first byte lands on it. This module decodes
//! instruction *lengths* (prefixes, REX, VEX, EVEX, the opcode maps, ModRM/SIB,
//! displacement and immediate sizes) — enough to walk code, not to disassemble it. An
//! opcode it does not know ends the walk (the caller then trusts nothing after it).
//!
//! [`syscall_sites`] walks a function and reports each `syscall` reached while `%eax`
//! still holds a constant loaded by `mov $nr,%eax` earlier in a straight run of
//! instructions known to leave `%eax` alone. The number only chooses which register a
//! probe fetches: the resolver still ties a hit to the system call the thread really
//! enters next and drops it otherwise (a branch landing between the `mov` and the
//! `syscall` cannot attach a value to the wrong call).
//!
//! No I/O; total on any input (fuzz target `machine_code`, and the unit tests below).

/// The opcode map an instruction's opcode byte belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Map {
    /// One-byte opcodes.
    Primary,
    /// `0f xx`.
    Of,
    /// `0f 38 xx`.
    Of38,
    /// `0f 3a xx`.
    Of3a,
    /// VEX- or EVEX-encoded (AVX): never relevant to system calls.
    Vector,
}

/// What the walk needs to know of one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub len: usize,
    pub map: Map,
    pub opcode: u8,
    pub modrm: Option<u8>,
    /// The REX byte directly before the opcode (0 when none).
    pub rex: u8,
    /// A `66` operand-size prefix was present.
    pub opsize16: bool,
    /// The immediate operand's value (sign-extension not applied), 0 when none.
    pub imm: u64,
}

impl Insn {
    fn reg(&self) -> Option<u8> {
        self.modrm.map(|m| ((m >> 3) & 7) | ((self.rex & 4) << 1))
    }
    /// The r/m operand as a register number, when it is one (mod = 11).
    fn rm_reg(&self) -> Option<u8> {
        self.modrm
            .filter(|m| m >> 6 == 3)
            .map(|m| (m & 7) | ((self.rex & 1) << 3))
    }
    fn is_syscall(&self) -> bool {
        self.map == Map::Of && self.opcode == 0x05
    }
}

/// Operand kinds of an opcode, as bit flags.
const M: u8 = 1; // ModRM follows
const I8: u8 = 2; // 8-bit immediate
const IZ: u8 = 4; // 16/32-bit immediate (operand size)
const BAD: u8 = 8; // invalid in 64-bit mode, or not decoded here
const PFX: u8 = 16; // a prefix
const SPECIAL: u8 = 32; // handled by code (b8-bf, a0-a3, c2, c8, ca, f6, f7, 0f, c4, c5, 62)

/// The one-byte opcode map, 64-bit mode.
const PRIMARY: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x40 {
        // The eight ALU groups: r/m,r ×4 with ModRM, al,imm8, eax,immz, then two others.
        t[i] = M;
        t[i + 1] = M;
        t[i + 2] = M;
        t[i + 3] = M;
        t[i + 4] = I8;
        t[i + 5] = IZ;
        t[i + 6] = BAD; // push/pop seg, or a segment prefix (set below)
        t[i + 7] = BAD; // pop seg, daa…, or escape (set below)
        i += 8;
    }
    t[0x0f] = SPECIAL;
    t[0x26] = PFX;
    t[0x2e] = PFX;
    t[0x36] = PFX;
    t[0x3e] = PFX;
    let mut i = 0x40;
    while i < 0x50 {
        t[i] = PFX; // REX
        i += 1;
    }
    // 50-5f push/pop: no operands.
    t[0x60] = BAD;
    t[0x61] = BAD;
    t[0x62] = SPECIAL; // EVEX
    t[0x63] = M;
    t[0x64] = PFX;
    t[0x65] = PFX;
    t[0x66] = PFX;
    t[0x67] = PFX;
    t[0x68] = IZ;
    t[0x69] = M | IZ;
    t[0x6a] = I8;
    t[0x6b] = M | I8;
    let mut i = 0x70;
    while i < 0x80 {
        t[i] = I8; // jcc rel8
        i += 1;
    }
    t[0x80] = M | I8;
    t[0x81] = M | IZ;
    t[0x82] = BAD;
    t[0x83] = M | I8;
    let mut i = 0x84;
    while i < 0x90 {
        t[i] = M;
        i += 1;
    }
    t[0x8f] = SPECIAL; // pop r/m, or AMD XOP
    t[0x9a] = BAD;
    t[0xa0] = SPECIAL;
    t[0xa1] = SPECIAL;
    t[0xa2] = SPECIAL;
    t[0xa3] = SPECIAL;
    t[0xa8] = I8;
    t[0xa9] = IZ;
    let mut i = 0xb0;
    while i < 0xb8 {
        t[i] = I8;
        t[i + 8] = SPECIAL; // mov imm to r32/r64
        i += 1;
    }
    t[0xc0] = M | I8;
    t[0xc1] = M | I8;
    t[0xc2] = SPECIAL;
    t[0xc4] = SPECIAL; // VEX3
    t[0xc5] = SPECIAL; // VEX2
    t[0xc6] = M | I8;
    t[0xc7] = M | IZ;
    t[0xc8] = SPECIAL;
    t[0xca] = SPECIAL;
    t[0xcd] = I8;
    t[0xce] = BAD;
    t[0xd0] = M;
    t[0xd1] = M;
    t[0xd2] = M;
    t[0xd3] = M;
    t[0xd4] = BAD;
    t[0xd5] = BAD;
    t[0xd6] = BAD;
    let mut i = 0xd8;
    while i < 0xe0 {
        t[i] = M; // x87
        i += 1;
    }
    let mut i = 0xe0;
    while i < 0xe8 {
        t[i] = I8; // loop/jcxz rel8, in/out imm8
        i += 1;
    }
    t[0xe8] = IZ;
    t[0xe9] = IZ;
    t[0xea] = BAD;
    t[0xeb] = I8;
    t[0xf0] = PFX;
    t[0xf2] = PFX;
    t[0xf3] = PFX;
    t[0xf6] = SPECIAL;
    t[0xf7] = SPECIAL;
    t[0xfe] = M;
    t[0xff] = M;
    t
};

/// The `0f xx` map.
const SECONDARY: [u8; 256] = {
    let mut t = [M; 256];
    t[0x04] = BAD;
    t[0x05] = 0; // syscall
    t[0x06] = 0; // clts
    t[0x07] = 0; // sysret
    t[0x08] = 0; // invd
    t[0x09] = 0; // wbinvd
    t[0x0a] = BAD;
    t[0x0b] = 0; // ud2
    t[0x0c] = BAD;
    t[0x0e] = 0; // femms
    t[0x0f] = M | I8; // 3DNow!
    let mut i = 0x24;
    while i < 0x28 {
        t[i] = BAD;
        i += 1;
    }
    let mut i = 0x30;
    while i < 0x38 {
        t[i] = 0; // wrmsr rdtsc rdmsr rdpmc sysenter sysexit - getsec
        i += 1;
    }
    t[0x36] = BAD;
    t[0x38] = SPECIAL;
    t[0x3a] = SPECIAL;
    t[0x39] = BAD;
    t[0x3b] = BAD;
    t[0x3c] = BAD;
    t[0x3d] = BAD;
    t[0x3e] = BAD;
    t[0x3f] = BAD;
    t[0x70] = M | I8;
    t[0x71] = M | I8;
    t[0x72] = M | I8;
    t[0x73] = M | I8;
    t[0x77] = 0; // emms
    t[0x7a] = BAD;
    t[0x7b] = BAD;
    let mut i = 0x80;
    while i < 0x90 {
        t[i] = IZ; // jcc rel32
        i += 1;
    }
    t[0xa0] = 0;
    t[0xa1] = 0;
    t[0xa2] = 0; // cpuid
    t[0xa4] = M | I8;
    t[0xa6] = BAD;
    t[0xa7] = BAD;
    t[0xa8] = 0;
    t[0xa9] = 0;
    t[0xaa] = 0; // rsm
    t[0xac] = M | I8;
    t[0xba] = M | I8;
    t[0xc2] = M | I8;
    t[0xc4] = M | I8;
    t[0xc5] = M | I8;
    t[0xc6] = M | I8;
    let mut i = 0xc8;
    while i < 0xd0 {
        t[i] = 0; // bswap
        i += 1;
    }
    t
};

/// Whether an opcode of the `0f` map (legacy, VEX or EVEX) takes an 8-bit immediate.
fn of_map_imm8(op: u8) -> bool {
    matches!(op, 0x70..=0x73 | 0xc2 | 0xc4..=0xc6)
}

/// Bytes taken by a ModRM byte's addressing form (SIB, displacement), after the ModRM.
fn modrm_extra(code: &[u8], at: usize) -> Option<usize> {
    let m = *code.get(at)?;
    let (md, rm) = (m >> 6, m & 7);
    if md == 3 {
        return Some(0);
    }
    let mut extra = 0;
    let mut base_is_disp32 = false;
    if rm == 4 {
        let sib = *code.get(at + 1)?;
        extra += 1;
        base_is_disp32 = md == 0 && sib & 7 == 5;
    }
    extra += match md {
        0 if rm == 5 || base_is_disp32 => 4, // RIP-relative, or SIB without base
        0 => 0,
        1 => 1,
        _ => 4,
    };
    Some(extra)
}

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Decodes the instruction at the start of `code`. `None` when it is invalid in 64-bit
/// mode, not known here, longer than 15 bytes, or runs past the end of `code`.
pub fn decode(code: &[u8]) -> Option<Insn> {
    let mut at = 0;
    let mut rex = 0u8;
    let mut opsize16 = false;
    let mut addr32 = false;
    // Prefixes (legacy and REX; a REX only counts when the opcode follows it directly).
    loop {
        let b = *code.get(at)?;
        if PRIMARY[b as usize] != PFX {
            break;
        }
        if (0x40..0x50).contains(&b) {
            rex = b;
        } else {
            rex = 0;
            opsize16 |= b == 0x66;
            addr32 |= b == 0x67;
        }
        at += 1;
        if at >= 15 {
            return None;
        }
    }
    let w = rex & 8 != 0;
    let immz = if opsize16 && !w { 2 } else { 4 };
    let op = *code.get(at)?;
    at += 1;
    let (map, opcode, flags) = match op {
        0x0f => {
            let op2 = *code.get(at)?;
            at += 1;
            match op2 {
                0x38 => (Map::Of38, *code.get(at)?, M),
                0x3a => (Map::Of3a, *code.get(at)?, M | I8),
                _ => (Map::Of, op2, SECONDARY[op2 as usize]),
            }
        }
        0xc4 | 0xc5 | 0x62 => {
            // VEX3 (c4 RXBmmmmm WvvvvLpp), VEX2 (c5 RvvvvLpp), EVEX (62 P0 P1 P2).
            let (payload, vmap) = match op {
                0xc5 => (1, 1),
                0xc4 => (2, *code.get(at)? & 0x1f),
                _ => (3, *code.get(at)? & 0x07),
            };
            at += payload;
            let vop = *code.get(at)?;
            at += 1;
            let imm = match vmap {
                1 => of_map_imm8(vop),
                2 | 5 | 6 => false,
                3 => true,
                _ => return None,
            };
            // vzeroupper/vzeroall: the only VEX opcode without ModRM.
            let has_modrm = !(op != 0x62 && vmap == 1 && vop == 0x77);
            let mut len = at;
            let mut modrm = None;
            if has_modrm {
                modrm = Some(*code.get(len)?);
                len += 1 + modrm_extra(code, len)?;
            }
            if imm {
                len += 1;
            }
            return finish(code, len, Map::Vector, vop, modrm, 0, opsize16, 0);
        }
        _ => (Map::Primary, op, PRIMARY[op as usize]),
    };
    if map != Map::Primary && map != Map::Of {
        at += 1; // the third opcode byte
    }
    if flags & BAD != 0 {
        return None;
    }
    let mut modrm = None;
    let mut imm_len = 0;
    if flags & SPECIAL != 0 {
        match (map, opcode) {
            (Map::Primary, 0xb8..=0xbf) => imm_len = if w { 8 } else { immz },
            (Map::Primary, 0xa0..=0xa3) => imm_len = if addr32 { 4 } else { 8 },
            (Map::Primary, 0xc2 | 0xca) => imm_len = 2,
            (Map::Primary, 0xc8) => imm_len = 3,
            (Map::Primary, 0xf6 | 0xf7 | 0x8f) => {
                let m = *code.get(at)?;
                let reg = (m >> 3) & 7;
                if opcode == 0x8f && reg != 0 {
                    return None; // XOP
                }
                if reg < 2 && opcode != 0x8f {
                    imm_len = if opcode == 0xf6 { 1 } else { immz };
                }
                modrm = Some(m);
                at += 1 + modrm_extra(code, at)?;
            }
            _ => return None,
        }
    } else if flags & M != 0 {
        let m = *code.get(at)?;
        modrm = Some(m);
        at += 1 + modrm_extra(code, at)?;
    }
    if flags & I8 != 0 {
        imm_len += 1;
    }
    if flags & IZ != 0 {
        imm_len += immz;
    }
    let imm = le(code.get(at..at + imm_len)?);
    finish(code, at + imm_len, map, opcode, modrm, rex, opsize16, imm)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    code: &[u8],
    len: usize,
    map: Map,
    opcode: u8,
    modrm: Option<u8>,
    rex: u8,
    opsize16: bool,
    imm: u64,
) -> Option<Insn> {
    if len > 15 || len > code.len() {
        return None;
    }
    Some(Insn {
        len,
        map,
        opcode,
        modrm,
        rex,
        opsize16,
        imm,
    })
}

/// Start offsets of the instructions of `code`, decoded linearly from its first byte.
/// `None` when some instruction cannot be decoded or the last one runs past the end.
pub fn boundaries(code: &[u8]) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < code.len() {
        out.push(at);
        at += decode(&code[at..])?.len;
    }
    Some(out)
}

/// Largest gap between two functions that a continuing decode walks through (alignment
/// padding is at most 63 bytes even at 64-byte alignment).
const MAX_PADDING: u64 = 64;

/// The functions among `ranges` (start address, length; sorted, non-overlapping as the
/// unwind tables give them) whose instruction boundaries two independent decodes agree
/// on: one from the function's own first byte, one continuing from the function before it
/// through the padding between. An unwind entry that starts off an instruction boundary
/// (glibc's signal-return trampolines begin theirs one byte early, inside padding) then
/// disagrees and is left out, and so is a function with no neighbour close enough before
/// it to confirm it. `code(start, len)` gives the bytes loaded there.
pub fn confirmed_functions<'a>(
    ranges: &[(u64, u64)],
    code: impl Fn(u64, u64) -> Option<&'a [u8]>,
) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    // Where the continuing decode stands: the address of its next instruction.
    let mut cursor: Option<u64> = None;
    for &(start, len) in ranges {
        let end = start.saturating_add(len);
        let own = code(start, len).and_then(boundaries);
        // Walk the continuing decode up to `start`, then through the function.
        let mut walked = Vec::new();
        if let Some(mut at) = cursor.filter(|&c| c <= start && start - c <= MAX_PADDING) {
            while at < end {
                let Some(i) = code(at, end - at).and_then(decode) else {
                    break;
                };
                if at >= start {
                    walked.push((at - start) as usize);
                }
                at += i.len as u64;
            }
            cursor = (at == end).then_some(at);
        } else {
            cursor = own.as_ref().map(|_| end);
        }
        if let Some(own) = own
            && !walked.is_empty()
            && own == walked
        {
            out.push((start, len));
        }
    }
    out
}

/// A `syscall` instruction whose number is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallSite {
    /// Offset of the `0f 05` bytes from the start of the code given.
    pub at: usize,
    /// The system call number `%eax` holds there.
    pub nr: u32,
}

impl SyscallSite {
    /// Offset of the instruction the thread returns to (a post-syscall probe goes there).
    pub fn after(&self) -> usize {
        self.at + 2
    }
}

/// The constant `mov $imm,%eax` / `mov $imm,%rax` loads, if `i` is one.
fn loads_eax(i: &Insn) -> Option<u32> {
    // xor %eax,%eax (also sub): how compilers load 0, read's number.
    if i.map == Map::Primary
        && matches!(i.opcode, 0x29 | 0x2b | 0x31 | 0x33)
        && i.modrm == Some(0xc0)
        && i.rex & 0b101 == 0
    {
        return Some(0);
    }
    let to_eax = match (i.map, i.opcode) {
        (Map::Primary, 0xb8) => i.rex & 1 == 0 && !i.opsize16,
        (Map::Primary, 0xc7) => i.rm_reg() == Some(0) && !i.opsize16,
        _ => false,
    };
    (to_eax && i.imm < 0x1_0000).then_some(i.imm as u32)
}

/// Whether `i` is known to leave `%eax`/`%rax` unchanged (and to fall through to the next
/// instruction). Conservative: anything not listed may change it.
fn keeps_eax(i: &Insn) -> bool {
    let not_ax = |r: Option<u8>| r.is_some_and(|r| r != 0);
    let to_memory = i.modrm.is_some_and(|m| m >> 6 != 3);
    let rm_not_ax = to_memory || not_ax(i.rm_reg());
    match i.map {
        Map::Primary => match i.opcode {
            0x90 | 0x50..=0x57 => true,
            // Compares and tests write only flags.
            0x38..=0x3d | 0x84 | 0x85 | 0xa8 | 0xa9 => true,
            // op r/m, reg: the r/m operand is written.
            0x00 | 0x01 | 0x08 | 0x09 | 0x10 | 0x11 | 0x18 | 0x19 | 0x20 | 0x21 | 0x28 | 0x29
            | 0x30 | 0x31 | 0x88 | 0x89 | 0xc6 | 0xc7 => rm_not_ax,
            // op reg, r/m (and lea, movsxd): the reg operand is written.
            0x02 | 0x03 | 0x0a | 0x0b | 0x12 | 0x13 | 0x1a | 0x1b | 0x22 | 0x23 | 0x2a | 0x2b
            | 0x32 | 0x33 | 0x63 | 0x8a | 0x8b | 0x8d => not_ax(i.reg()),
            // ALU with an immediate: /7 (cmp) writes nothing.
            0x80 | 0x81 | 0x83 => i.reg().is_some_and(|r| r & 7 == 7) || rm_not_ax,
            // mov $imm to another register.
            0xb9..=0xbf => true,
            0xb8 => i.rex & 1 != 0,
            _ => false,
        },
        Map::Of => match i.opcode {
            0x1f => true, // nop r/m
            // SSE moves and logic with an xmm or memory destination.
            0x10..=0x17 | 0x28 | 0x29 | 0x57 | 0x6c | 0x6d | 0x6e | 0x6f | 0x7f | 0xd6 | 0xef => {
                true
            }
            // movzx/movsx, cmov: the reg operand is written.
            0x40..=0x4f | 0xb6 | 0xb7 | 0xbe | 0xbf => not_ax(i.reg()),
            _ => false,
        },
        _ => false,
    }
}

/// The `syscall` instructions of one function's code (decoded from its first byte) whose
/// number a `mov` loaded into `%eax` earlier in a straight run that keeps it (see the
/// module header). `None` when the code does not decode to its end exactly: nothing in it
/// is then trusted.
pub fn syscall_sites(code: &[u8]) -> Option<Vec<SyscallSite>> {
    let mut out = Vec::new();
    let mut nr: Option<u32> = None;
    let mut at = 0;
    while at < code.len() {
        let i = decode(&code[at..])?;
        if i.is_syscall() {
            if let Some(nr) = nr {
                out.push(SyscallSite { at, nr });
            }
            nr = None; // %rax holds the result now
        } else if let Some(v) = loads_eax(&i) {
            nr = Some(v);
        } else if !keeps_eax(&i) {
            nr = None;
        }
        at += i.len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(code: &[u8]) -> Vec<usize> {
        let b = boundaries(code).expect("decodes");
        b.windows(2)
            .map(|w| w[1] - w[0])
            .chain(std::iter::once(code.len() - b.last().unwrap()))
            .collect()
    }

    #[test]
    fn xor_eax_loads_zero_reads_number() {
        // glibc 2.36 __read: xor %eax,%eax ; syscall ; cmp $-4096,%rax
        let code = [0x31, 0xc0, 0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff];
        let sites = syscall_sites(&code).unwrap();
        assert_eq!(sites.len(), 1);
        assert_eq!((sites[0].at, sites[0].nr), (2, 0));
        // xor %ecx,%ecx does not load %eax
        assert!(syscall_sites(&[0x31, 0xc9, 0x0f, 0x05]).unwrap().is_empty());
    }

    #[test]
    fn lengths_of_common_forms() {
        // mov %fs:0x10,%rax (9) ; lea 0x1c(%rax),%rdi (4) ; mov $0xca,%eax (5) ; syscall (2)
        let code = [
            0x64, 0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0, 0x48, 0x8d, 0x78, 0x1c, 0xb8, 0xca, 0, 0,
            0, 0x0f, 0x05,
        ];
        assert_eq!(lens(&code), vec![9, 4, 5, 2]);
        // cs nopw 0x0(%rax,%rax,1) (10) ; movabs $imm64,%rax (10) ; ret (1)
        let code = [
            0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0, 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 0xc3,
        ];
        assert_eq!(lens(&code), vec![10, 10, 1]);
        // vmovdqu (%rsi),%ymm0 (4: c5 fe 6f 06) ; vzeroupper (3) ; vpcmpeqb with EVEX (6+disp8)
        let code = [
            0xc5, 0xfe, 0x6f, 0x06, 0xc5, 0xf8, 0x77, 0x62, 0xf1, 0x7d, 0x48, 0x74, 0x46, 0x01,
        ];
        assert_eq!(lens(&code), vec![4, 3, 7]);
        // test $0x40,%dl (3) ; testl $imm32,(%rdi) (6) ; mov %ax,0x10(%rbx) (66 89 43 10 = 4)
        let code = [
            0xf6, 0xc2, 0x40, 0xf7, 0x07, 1, 2, 3, 4, 0x66, 0x89, 0x43, 0x10,
        ];
        assert_eq!(lens(&code), vec![3, 6, 4]);
        // pshufd $0,%xmm1,%xmm0 (66 0f 70 c1 00 = 5) ; palignr (66 0f 3a 0f c1 08 = 6)
        let code = [0x66, 0x0f, 0x70, 0xc1, 0, 0x66, 0x0f, 0x3a, 0x0f, 0xc1, 8];
        assert_eq!(lens(&code), vec![5, 6]);
    }

    #[test]
    fn invalid_and_truncated_code_is_refused() {
        assert_eq!(decode(&[0x06]), None); // push %es
        assert_eq!(decode(&[0xb8, 1, 2]), None); // truncated immediate
        assert_eq!(decode(&[0x66; 16]), None); // prefixes only
        assert_eq!(decode(&[]), None);
        assert_eq!(boundaries(&[0x90, 0x90, 0xe8, 0, 0]), None);
        // Everything else never panics.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = decode(&[a, b, 0x44, 0x24, 0x10, 0x11, 0x22]);
                let _ = decode(&[0x0f, a, b]);
                let _ = decode(&[0xc4, a, b, 0x05]);
            }
        }
    }

    #[test]
    fn syscall_numbers_follow_eax_through_moves_that_keep_it() {
        // mov $0x101,%eax ; mov %rdi,%rsi ; mov $-100,%edi ; syscall  (ld.so's open)
        let code = [
            0xb8, 0x01, 0x01, 0, 0, 0x48, 0x89, 0xfe, 0xbf, 0x9c, 0xff, 0xff, 0xff, 0x0f, 0x05,
        ];
        assert_eq!(
            syscall_sites(&code),
            Some(vec![SyscallSite { at: 13, nr: 0x101 }])
        );
        // mov $0x16,%eax ; mov %r9d,%eax (eax overwritten) ; syscall → no site
        let code = [0xb8, 0x16, 0, 0, 0, 0x44, 0x89, 0xc8, 0x0f, 0x05];
        assert_eq!(syscall_sites(&code), Some(vec![]));
        // mov $0x16,%rax (48 c7 c0) ; syscall ; syscall (second has the result in rax)
        let code = [0x48, 0xc7, 0xc0, 0x16, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x05];
        assert_eq!(
            syscall_sites(&code),
            Some(vec![SyscallSite { at: 7, nr: 0x16 }])
        );
        // A 0f 05 inside an immediate is not an instruction: mov $0x050f,%ecx
        let code = [0xb8, 0x16, 0, 0, 0, 0xb9, 0x0f, 0x05, 0, 0];
        assert_eq!(syscall_sites(&code), Some(vec![]));
        // glibc 2.36 pipe: xor %esi,%esi; mov $0x125,%eax; syscall; cmp $-4096,%rax
        let pipe = [
            0x31, 0xf6, 0xb8, 0x25, 0x01, 0, 0, 0x0f, 0x05, 0x48, 0x3d, 0, 0xf0, 0xff, 0xff,
        ];
        let s = syscall_sites(&pipe).unwrap();
        assert_eq!(s, vec![SyscallSite { at: 7, nr: 293 }]);
        assert_eq!(s[0].after(), 9);
        // 0f 05 inside a displacement: mov 0x50f(%rip),%rax; syscall (no number); ret
        let stray = [0x48, 0x8b, 0x05, 0x0f, 0x05, 0, 0, 0x0f, 0x05, 0xc3];
        assert_eq!(syscall_sites(&stray), Some(vec![]));
        assert_eq!(syscall_sites(&[0x0f]), None);
        assert_eq!(syscall_sites(&[]), Some(vec![]));
        // A call in between forgets the number.
        let code = [0xb8, 0x16, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x0f, 0x05];
        assert_eq!(syscall_sites(&code), Some(vec![]));
    }

    /// Every instruction start objdump reports in the system's loader and C library lies
    /// on our boundaries, within every function the unwind tables describe.
    #[test]
    fn boundaries_agree_with_objdump_on_system_libraries() {
        use super::super::elf::Elf;
        for path in [
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            "/lib/x86_64-linux-gnu/libc.so.6",
        ] {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            let Ok(out) = std::process::Command::new("objdump")
                .args(["-d", "--no-show-raw-insn", path])
                .output()
            else {
                eprintln!("skipped: no objdump");
                return;
            };
            let text = String::from_utf8_lossy(&out.stdout);
            let starts: std::collections::HashSet<u64> = text
                .lines()
                .filter_map(|l| {
                    let (addr, rest) = l.trim_start().split_once(":\t")?;
                    (!rest.contains("(bad)")).then_some(())?;
                    u64::from_str_radix(addr, 16).ok()
                })
                .collect();
            let elf = Elf::parse(&bytes).unwrap();
            let ranges: Vec<(u64, u64)> = elf
                .function_ranges()
                .unwrap()
                .iter()
                .map(|r| (r.start, r.len))
                .collect();
            let confirmed = confirmed_functions(&ranges, |a, n| elf.code_at(a, n));
            let mut checked = 0;
            for &(start, len) in &confirmed {
                for off in boundaries(elf.code_at(start, len).unwrap()).unwrap() {
                    checked += 1;
                    assert!(
                        starts.contains(&(start + off as u64)),
                        "{path}: {:#x} is not an instruction start for objdump",
                        start + off as u64
                    );
                }
            }
            eprintln!(
                "{path}: {checked} instructions agree; {} of {} functions confirmed",
                confirmed.len(),
                ranges.len()
            );
            assert!(checked > 10_000, "{path}: {checked}");
            assert!(
                confirmed.len() * 10 > ranges.len() * 9,
                "{path}: {} of {} confirmed",
                confirmed.len(),
                ranges.len()
            );
        }
    }
}
