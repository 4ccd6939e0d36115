//! The kernel seam: every perf system call, ioctl and the ring mapping go through the
//! `Kernel` trait, so the engine's feature probing and fallbacks can be tested against a
//! fake kernel that answers E2BIG, EINVAL or EACCES on demand. `RealKernel` is the only
//! code in tpdig that talks to perf directly, and this file (with the ring mapping below)
//! is the only place in the perf engine with `unsafe`.
//!
//! The ring is shared with the kernel: it writes records and advances `data_head`; we read
//! records up to the head and then advance `data_tail` to give the space back. The crate
//! bindings have plain `u64` fields for both, so the ordering is ours to provide: an
//! Acquire load of the head (records below it are fully written) and a Release store of
//! the tail (we are done reading everything below it). `RingMap` hands out slices only of
//! the part between tail and head, which the kernel does not touch until the tail moves.

use perf_event_open_sys as sys;
use perf_event_open_sys::bindings::perf_event_attr;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Offsets of `data_head` and `data_tail` in `perf_event_mmap_page` (fixed by the ABI).
const DATA_HEAD_OFFSET: usize =
    std::mem::offset_of!(sys::bindings::perf_event_mmap_page, data_head);
const DATA_TAIL_OFFSET: usize =
    std::mem::offset_of!(sys::bindings::perf_event_mmap_page, data_tail);

/// Reads clock `id` (CLOCK_MONOTONIC, CLOCK_REALTIME...) in ns; 0 if the clock is
/// unknown. In the vDSO on most systems, so it costs no system call.
#[allow(clippy::useless_conversion)] // time_t and c_long are i32 on 32-bit targets
pub fn clock_ns(id: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return 0;
    }
    i64::from(ts.tv_sec) * 1_000_000_000 + i64::from(ts.tv_nsec)
}

/// One `perf_event_open` of [`Kernel::open_many`].
pub struct OpenJob {
    pub attr: perf_event_attr,
    pub pid: i32,
    pub cpu: i32,
    pub flags: u64,
}

/// The operations the perf engine needs from the kernel.
pub trait Kernel {
    /// `perf_event_open(2)`. `attr` is `&mut` because on E2BIG the kernel writes the size
    /// it supports into `attr.size`. The returned fd is always close-on-exec.
    fn perf_event_open(
        &self,
        attr: &mut perf_event_attr,
        pid: i32,
        cpu: i32,
        group_fd: i32,
        flags: u64,
    ) -> io::Result<OwnedFd>;
    /// Many opens whose attributes are settled. Registering a probe event waits for the
    /// kernel (≈0.1 s each for uprobes here), so the real kernel opens them from several
    /// threads; the default opens them one by one.
    fn open_many(&self, jobs: &mut [OpenJob]) -> Vec<io::Result<OwnedFd>> {
        jobs.iter_mut()
            .map(|j| self.perf_event_open(&mut j.attr, j.pid, j.cpu, -1, j.flags))
            .collect()
    }
    /// PERF_EVENT_IOC_SET_OUTPUT: `fd`'s records go into `target`'s ring.
    fn set_output(&self, fd: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()>;
    /// PERF_EVENT_IOC_SET_FILTER with an ftrace filter expression.
    fn set_filter(&self, fd: BorrowedFd<'_>, filter: &CStr) -> io::Result<()>;
    fn enable(&self, fd: BorrowedFd<'_>) -> io::Result<()>;
    fn disable(&self, fd: BorrowedFd<'_>) -> io::Result<()>;
    /// PERF_EVENT_IOC_PAUSE_OUTPUT (4.7+): while paused the kernel writes nothing into the
    /// ring of `fd` (it counts the records as lost), so an overwrite ring can be copied.
    fn pause_output(&self, fd: BorrowedFd<'_>, paused: bool) -> io::Result<()>;
    /// Maps the control page plus `data_pages` (a power of two) pages of ring. A writable
    /// mapping is a streaming ring (we advance the tail); a read-only one overwrites.
    fn mmap_ring(
        &self,
        fd: BorrowedFd<'_>,
        data_pages: usize,
        writable: bool,
    ) -> io::Result<RingMap>;
    /// Waits until one of `fds` is readable or `timeout_ms` passes (-1: forever).
    /// Returns how many are ready. EINTR is returned as an error; the engine decides.
    fn poll(&self, fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<usize>;
    /// The text of /sys/devices/system/cpu/online.
    fn online_cpus_text(&self) -> io::Result<String>;
    /// RLIMIT_NOFILE as (soft, hard); `u64::MAX` is unlimited.
    fn nofile_limit(&self) -> io::Result<(u64, u64)>;
    fn set_nofile_soft(&self, soft: u64) -> io::Result<()>;
    /// /proc/sys/kernel/perf_event_paranoid, for error messages.
    fn perf_event_paranoid(&self) -> Option<i32>;
    fn page_size(&self) -> usize;
}

/// The running kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealKernel;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Kernel for RealKernel {
    fn open_many(&self, jobs: &mut [OpenJob]) -> Vec<io::Result<OwnedFd>> {
        const THREADS: usize = 16;
        let per = jobs.len().div_ceil(THREADS).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .chunks_mut(per)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter_mut()
                            .map(|j| self.perf_event_open(&mut j.attr, j.pid, j.cpu, -1, j.flags))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("an open thread panicked"))
                .collect()
        })
    }

    fn perf_event_open(
        &self,
        attr: &mut perf_event_attr,
        pid: i32,
        cpu: i32,
        group_fd: i32,
        flags: u64,
    ) -> io::Result<OwnedFd> {
        // SAFETY: `attr` is a valid, initialised perf_event_attr that we exclusively
        // borrow, so the kernel may read `attr.size` bytes of it and write `size` back.
        // Its size field never exceeds the struct (the engine only lowers it).
        let fd = check(unsafe { sys::perf_event_open(attr, pid, cpu, group_fd, flags as _) })?;
        // SAFETY: the kernel just returned this fd to us; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        if flags & sys::bindings::PERF_FLAG_FD_CLOEXEC as u64 == 0 {
            // Kernels before 3.14 have no PERF_FLAG_FD_CLOEXEC: set it afterwards.
            nix::fcntl::fcntl(
                &fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .map_err(io::Error::from)?;
        }
        Ok(fd)
    }

    fn set_output(&self, fd: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: both are open perf fds that outlive the call; the ioctl takes an int.
        check(unsafe { sys::ioctls::SET_OUTPUT(fd.as_raw_fd(), target.as_raw_fd()) }).map(drop)
    }

    fn set_filter(&self, fd: BorrowedFd<'_>, filter: &CStr) -> io::Result<()> {
        // SAFETY: `filter` is NUL-terminated and lives across the call; the kernel only
        // reads it (strndup_user) despite the `*mut` in the binding.
        check(unsafe { sys::ioctls::SET_FILTER(fd.as_raw_fd(), filter.as_ptr() as *mut _) })
            .map(drop)
    }

    fn enable(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: an open perf fd; the argument is a plain flag word.
        check(unsafe { sys::ioctls::ENABLE(fd.as_raw_fd(), 0) }).map(drop)
    }

    fn disable(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: an open perf fd; the argument is a plain flag word.
        check(unsafe { sys::ioctls::DISABLE(fd.as_raw_fd(), 0) }).map(drop)
    }

    fn pause_output(&self, fd: BorrowedFd<'_>, paused: bool) -> io::Result<()> {
        // SAFETY: an open perf fd; the argument is a plain u32 flag (1 pause, 0 resume).
        check(unsafe { sys::ioctls::PAUSE_OUTPUT(fd.as_raw_fd(), paused as u32) }).map(drop)
    }

    fn mmap_ring(
        &self,
        fd: BorrowedFd<'_>,
        data_pages: usize,
        writable: bool,
    ) -> io::Result<RingMap> {
        let page = self.page_size();
        if data_pages == 0 || !data_pages.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring pages must be a power of two",
            ));
        }
        let len = (data_pages + 1)
            .checked_mul(page)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "ring too large"))?;
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a fresh shared mapping of a perf fd at offset 0; we pass no address,
        // so it cannot alias any Rust object. The result is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base =
            NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(RingMap {
            base,
            len,
            page_size: page,
            data_size: data_pages * page,
            writable,
            backing: Backing::Mmap,
        })
    }

    fn poll(&self, fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<usize> {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        let mut p: Vec<PollFd<'_>> = fds
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        let timeout = PollTimeout::try_from(timeout_ms.max(-1)).unwrap_or(PollTimeout::NONE);
        let n = nix::poll::poll(&mut p, timeout).map_err(io::Error::from)?;
        Ok(n as usize)
    }

    fn online_cpus_text(&self) -> io::Result<String> {
        std::fs::read_to_string(super::cpus::ONLINE_PATH)
    }

    #[allow(clippy::useless_conversion)] // rlim_t is u32 on some 32-bit targets
    fn nofile_limit(&self) -> io::Result<(u64, u64)> {
        let (s, h) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
        Ok((u64::from(s), u64::from(h)))
    }

    fn set_nofile_soft(&self, soft: u64) -> io::Result<()> {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
        setrlimit(Resource::RLIMIT_NOFILE, soft as _, hard)?;
        Ok(())
    }

    fn perf_event_paranoid(&self) -> Option<i32> {
        std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn page_size(&self) -> usize {
        match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
            Ok(Some(n)) if n > 0 => n as usize,
            _ => 4096,
        }
    }
}

enum Backing {
    Mmap,
    /// Process memory standing in for a kernel ring (tests and the fake kernel).
    #[cfg(test)]
    Heap(#[allow(dead_code)] Box<[u64]>),
}

/// A mapped perf ring: one control page, then `data_size` bytes of records.
pub struct RingMap {
    base: NonNull<u8>,
    len: usize,
    page_size: usize,
    data_size: usize,
    writable: bool,
    backing: Backing,
}

// SAFETY: the mapping is owned by this value alone and has no thread affinity; moving
// it to another thread moves the only reader with it.
unsafe impl Send for RingMap {}

impl RingMap {
    /// Bytes of record space (a power of two).
    pub fn data_size(&self) -> usize {
        self.data_size
    }

    pub fn writable(&self) -> bool {
        self.writable
    }

    fn control_word(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: `offset` is data_head's or data_tail's offset in the control page
        // (inside the mapping, 8-byte aligned because the mapping is page-aligned), and
        // the page lives as long as `self`. The kernel accesses these words concurrently,
        // which is what AtomicU64 is for.
        unsafe { &*(self.base.as_ptr().add(offset) as *const AtomicU64) }
    }

    /// The kernel's write position (a byte count that only grows).
    pub fn data_head(&self) -> u64 {
        // ATOMICS: Acquire pairs with the kernel's smp_store_release of data_head, so
        // every record byte below the head is visible before we read it.
        self.control_word(DATA_HEAD_OFFSET).load(Ordering::Acquire)
    }

    /// Our read position as last published.
    pub fn data_tail(&self) -> u64 {
        // ATOMICS: only we write data_tail; Relaxed reads back our own store.
        self.control_word(DATA_TAIL_OFFSET).load(Ordering::Relaxed)
    }

    /// Gives the space below `tail` back to the kernel. A no-op on read-only rings.
    pub fn set_data_tail(&mut self, tail: u64) {
        if !self.writable {
            return;
        }
        // ATOMICS: Release orders all our reads of the records below `tail` before the
        // kernel can see the space as free and overwrite it (it reads the tail with
        // smp_load_acquire / a full barrier in perf_output_begin).
        self.control_word(DATA_TAIL_OFFSET)
            .store(tail, Ordering::Release);
    }

    /// The `len` bytes starting at stream position `tail`, as one or two slices (two when
    /// they wrap the end of the ring). The window is clamped to what the kernel has
    /// published and we have not released: `[data_tail, data_head)`. The kernel does not
    /// write there until the tail moves, and `&mut self` keeps the tail still while the
    /// slices live. Read-only (overwrite) rings give empty slices: the kernel may write
    /// anywhere in them, so they must be paused and copied, not borrowed.
    pub fn window(&mut self, tail: u64, len: usize) -> (&[u8], &[u8]) {
        let published = self.data_tail();
        let head = self.data_head();
        let valid = self.writable
            && tail.wrapping_sub(published) <= head.wrapping_sub(published)
            && head.wrapping_sub(published) <= self.data_size as u64;
        let len = if valid {
            (len as u64).min(head.wrapping_sub(tail)) as usize
        } else {
            0
        };
        let pos = (tail as usize) & (self.data_size - 1);
        let first = len.min(self.data_size - pos);
        // SAFETY: the data area is [page_size, page_size + data_size) of the mapping;
        // pos + first <= data_size and len - first <= data_size, so both ranges are
        // inside it. They lie within [data_tail, data_head) of a streaming ring whose
        // head is at most one ring ahead of the tail (checked above), which the kernel
        // does not write until we move the tail, and we cannot while the slices (tied to
        // &mut self) live.
        unsafe {
            let data = self.base.as_ptr().add(self.page_size);
            (
                std::slice::from_raw_parts(data.add(pos), first),
                std::slice::from_raw_parts(data, len - first),
            )
        }
    }

    /// Copies the whole data area into `out` (cleared first) and returns the head loaded
    /// before the copy. For overwrite (read-only) rings, which are read by copying: the
    /// caller pauses the ring's output first, so the kernel is not writing while we copy;
    /// a record whose write began before the pause may still land, which the caller
    /// detects by loading the head again afterwards (it only ever clobbers the oldest
    /// bytes, since a backward ring writes just below its head).
    pub fn copy_data(&self, out: &mut Vec<u8>) -> u64 {
        let head = self.data_head();
        out.clear();
        out.resize(self.data_size, 0);
        // SAFETY: the data area is [page_size, page_size + data_size) of the mapping,
        // readable for as long as `self` lives; `out` has exactly data_size bytes and
        // cannot overlap a mapping we own. The kernel may in rare cases still be
        // finishing a record (see above): we copy plain bytes, never form references
        // into the shared area, and treat what we copied as untrusted input.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(self.page_size),
                out.as_mut_ptr(),
                self.data_size,
            );
        }
        head
    }

    /// A ring in process memory, laid out like a kernel ring, for tests.
    #[cfg(test)]
    pub(crate) fn heap(data_pages: usize, page_size: usize) -> RingMap {
        assert!(data_pages.is_power_of_two() && page_size >= 2048 && page_size.is_multiple_of(8));
        let len = (data_pages + 1) * page_size;
        let mut mem = vec![0u64; len / 8].into_boxed_slice();
        let base = NonNull::new(mem.as_mut_ptr() as *mut u8).unwrap();
        RingMap {
            base,
            len,
            page_size,
            data_size: data_pages * page_size,
            writable: true,
            backing: Backing::Heap(mem),
        }
    }

    /// Writes `bytes` at the head and advances it, as the kernel would (tests only).
    /// Returns false (writing nothing) when the ring has no room.
    #[cfg(test)]
    pub(crate) fn fake_write(&mut self, bytes: &[u8]) -> bool {
        let head = self.control_word(DATA_HEAD_OFFSET).load(Ordering::Relaxed);
        if head - self.data_tail() + bytes.len() as u64 > self.data_size as u64 {
            return false;
        }
        for (i, b) in bytes.iter().enumerate() {
            let pos = (head as usize + i) & (self.data_size - 1);
            // SAFETY: pos < data_size, inside the heap buffer's data area, and no slice
            // from `window` is alive (we hold &mut self).
            unsafe { *self.base.as_ptr().add(self.page_size + pos) = *b };
        }
        // ATOMICS: Release, like the kernel, publishes the bytes before the head.
        self.control_word(DATA_HEAD_OFFSET)
            .store(head + bytes.len() as u64, Ordering::Release);
        true
    }

    /// A read-only (overwrite) ring in process memory, for tests of backward rings.
    #[cfg(test)]
    pub(crate) fn heap_overwrite(data_pages: usize, page_size: usize) -> RingMap {
        let mut m = RingMap::heap(data_pages, page_size);
        m.writable = false;
        m
    }

    /// Writes `bytes` just below the head and moves the head down, as the kernel does for
    /// a `write_backward` overwrite ring (tests only): the oldest bytes are overwritten.
    #[cfg(test)]
    pub(crate) fn fake_write_backward(&mut self, bytes: &[u8]) {
        let head = self.control_word(DATA_HEAD_OFFSET).load(Ordering::Relaxed);
        let new = head.wrapping_sub(bytes.len() as u64);
        for (i, b) in bytes.iter().enumerate() {
            let pos = (new.wrapping_add(i as u64) as usize) & (self.data_size - 1);
            // SAFETY: pos < data_size, inside the heap buffer's data area; no slice of
            // the ring is alive (we hold &mut self).
            unsafe { *self.base.as_ptr().add(self.page_size + pos) = *b };
        }
        // ATOMICS: Release, like the kernel, publishes the bytes before the head.
        self.control_word(DATA_HEAD_OFFSET)
            .store(new, Ordering::Release);
    }

    /// Sets the head to any value (tests of a corrupt control page).
    #[cfg(test)]
    pub(crate) fn fake_set_head(&mut self, head: u64) {
        self.control_word(DATA_HEAD_OFFSET)
            .store(head, Ordering::Release);
    }
}

impl Drop for RingMap {
    fn drop(&mut self) {
        #[allow(irrefutable_let_patterns)] // only one variant outside tests
        if let Backing::Mmap = self.backing {
            // SAFETY: base/len are exactly what mmap returned; no slice borrowed from the
            // map can outlive `self`.
            unsafe { libc::munmap(self.base.as_ptr() as *mut _, self.len) };
        }
    }
}

impl std::fmt::Debug for RingMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingMap")
            .field("data_size", &self.data_size)
            .field("writable", &self.writable)
            .finish()
    }
}

/// A borrowed kernel is a kernel (tests keep the fake to inspect it afterwards).
impl<T: Kernel + ?Sized> Kernel for &T {
    fn open_many(&self, jobs: &mut [OpenJob]) -> Vec<io::Result<OwnedFd>> {
        (**self).open_many(jobs)
    }
    fn perf_event_open(
        &self,
        attr: &mut perf_event_attr,
        pid: i32,
        cpu: i32,
        group_fd: i32,
        flags: u64,
    ) -> io::Result<OwnedFd> {
        (**self).perf_event_open(attr, pid, cpu, group_fd, flags)
    }
    fn set_output(&self, fd: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
        (**self).set_output(fd, target)
    }
    fn set_filter(&self, fd: BorrowedFd<'_>, filter: &CStr) -> io::Result<()> {
        (**self).set_filter(fd, filter)
    }
    fn enable(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        (**self).enable(fd)
    }
    fn disable(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        (**self).disable(fd)
    }
    fn pause_output(&self, fd: BorrowedFd<'_>, paused: bool) -> io::Result<()> {
        (**self).pause_output(fd, paused)
    }
    fn mmap_ring(
        &self,
        fd: BorrowedFd<'_>,
        data_pages: usize,
        writable: bool,
    ) -> io::Result<RingMap> {
        (**self).mmap_ring(fd, data_pages, writable)
    }
    fn poll(&self, fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<usize> {
        (**self).poll(fds, timeout_ms)
    }
    fn online_cpus_text(&self) -> io::Result<String> {
        (**self).online_cpus_text()
    }
    #[allow(clippy::useless_conversion)] // rlim_t is u32 on some 32-bit targets
    fn nofile_limit(&self) -> io::Result<(u64, u64)> {
        (**self).nofile_limit()
    }
    fn set_nofile_soft(&self, soft: u64) -> io::Result<()> {
        (**self).set_nofile_soft(soft)
    }
    fn perf_event_paranoid(&self) -> Option<i32> {
        (**self).perf_event_paranoid()
    }
    fn page_size(&self) -> usize {
        (**self).page_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_never_reaches_outside_the_published_bytes() {
        let mut m = RingMap::heap(1, 4096);
        assert!(m.fake_write(&[7u8; 100]));
        let (a, b) = m.window(0, 1000);
        assert_eq!((a.len(), b.len()), (100, 0));
        let (a, _) = m.window(90, 50);
        assert_eq!(a.len(), 10);
        assert_eq!(m.window(200, 10).0.len(), 0, "beyond the head");
        m.set_data_tail(100);
        assert_eq!(
            m.window(50, 10).0.len(),
            0,
            "already released to the kernel"
        );
        // Wrap: the next 4000 bytes end 4 bytes past the start of the ring.
        assert!(m.fake_write(&[1u8; 4000]));
        let (a, b) = m.window(100, 4000);
        assert_eq!((a.len(), b.len()), (3996, 4));
        m.fake_set_head(100 + 5000);
        assert_eq!(
            m.window(100, 10).0.len(),
            0,
            "a head more than a ring ahead is corrupt"
        );
    }

    #[test]
    fn real_kernel_reads_the_cpu_list_and_limits() {
        let k = RealKernel;
        assert!(k.page_size() >= 4096);
        let cpus = super::super::cpus::parse_cpu_list(&k.online_cpus_text().unwrap()).unwrap();
        assert!(!cpus.is_empty());
        let (soft, hard) = k.nofile_limit().unwrap();
        assert!(soft <= hard);
        assert!(clock_ns(libc::CLOCK_MONOTONIC) > 0);
    }
}

// ---- Other C library calls without a safe wrapper in std or nix ------------------------
// Kept here so the program's unsafe code stays in one file.

/// Seconds east of UTC in force at `epoch_sec`, from the C library's time-zone rules
/// (TZ, /etc/localtime; no NSS involved).
pub fn local_utc_offset(epoch_sec: i64) -> i64 {
    let t: libc::time_t = epoch_sec as libc::time_t;
    // SAFETY: localtime_r writes only into the `tm` we own; both pointers are valid for the
    // call. An all-zero `tm` is a valid value of that plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok { tm.tm_gmtoff } else { 0 }
}

/// Lowers the calling thread's scheduling priority to `nice` (Linux applies nice values
/// per thread). Best effort: an error leaves the priority as it was.
pub fn nice_this_thread(nice: i32) {
    // Not libc's gettid(): std declares that symbol weak, and a static link-time-optimised
    // build then leaves it unresolved (a call to address 0). The system call always exists.
    let tid = nix::unistd::gettid().as_raw();
    // SAFETY: setpriority on our own thread id only changes its scheduling weight.
    unsafe {
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
    }
}

/// Runs `work` in a forked child that nobody waits for, and returns in the parent: true if
/// the child was started (then `work` is not run here). The child starts a session of its
/// own (a terminal's ^C does not reach it), puts /dev/null on its standard streams (a
/// reader of our output sees its end when we exit), closes every other descriptor but
/// `keep`, runs `work` and exits without running destructors or flushing buffers that
/// are the parent's. Refused (false) unless this process has a single thread, so no lock
/// can be held across the fork by a thread the child does not have.
pub fn in_detached_child(keep: &[i32], work: impl FnOnce()) -> bool {
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count());
    if !matches!(threads, Ok(1)) {
        return false;
    }
    // SAFETY: single-threaded (checked above), so the child's copy of memory is consistent;
    // the child only closes and reopens descriptors, runs `work` and leaves with _exit.
    match unsafe { libc::fork() } {
        -1 => false,
        0 => {
            // SAFETY: setsid/open/dup2/close act on this process's own session and
            // descriptors; the path is a NUL-terminated literal.
            unsafe {
                libc::setsid();
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    for fd in 0..3 {
                        libc::dup2(null, fd);
                    }
                }
            }
            let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| e.file_name().to_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            for fd in open.into_iter().filter(|fd| *fd > 2 && !keep.contains(fd)) {
                // SAFETY: closing a descriptor number; nothing in the child uses the
                // descriptors that are not kept.
                unsafe { libc::close(fd) };
            }
            work();
            // SAFETY: ends the child at once, skipping the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        _ => true,
    }
}

/// Clock ticks per second (the unit of /proc/PID/stat times).
pub fn clock_ticks() -> Option<u64> {
    // SAFETY: sysconf has no preconditions and only reads configuration.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some(hz as u64)
}

/// Whether SIGINT or SIGTERM is pending (blocked and not yet taken) for this thread.
pub fn stop_signal_pending() -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set we own; sigismember reads it only after success.
    unsafe {
        if libc::sigpending(set.as_mut_ptr()) != 0 {
            return false;
        }
        let set = set.assume_init();
        libc::sigismember(&set, libc::SIGINT) == 1 || libc::sigismember(&set, libc::SIGTERM) == 1
    }
}

/// Columns of the terminal on stdout, if stdout is a terminal.
pub fn stdout_columns() -> Option<usize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass; fd 1 may be anything,
    // and on failure the struct is left as initialised.
    let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) } == 0;
    (ok && ws.ws_col > 0).then_some(ws.ws_col as usize)
}
