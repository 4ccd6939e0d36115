//! A fake kernel for the engine's tests: it answers like an old, strict or stingy kernel
//! on demand and logs what it was asked. Fds are real (/dev/null) so ownership behaves;
//! rings live in process memory, pre-filled with records at map time.

use super::sys::{Kernel, RingMap};
use perf_event_open_sys::bindings::{PERF_FLAG_FD_CLOEXEC, perf_event_attr};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Opened {
    pub id: u32,
    pub cpu: i32,
    pub pid: i32,
    pub size: u32,
    pub clockid: bool,
    pub cloexec: bool,
    pub watermark: u32,
    pub backward: bool,
    /// PERF_SAMPLE_STACK_USER's size (0: not asked).
    pub stack_dump: u32,
}

pub(crate) struct FakeKernel {
    pub cpus: String,
    /// Sizes above this get E2BIG with this size written back.
    pub max_attr_size: u32,
    pub clockid_ok: bool,
    pub cloexec_ok: bool,
    pub set_output_ok: bool,
    /// Ids the kernel does not know, and the errno it answers for them.
    pub missing: Vec<(u32, i32)>,
    /// An errno for every open of a system-wide event (EACCES, EMFILE...).
    pub deny: Option<i32>,
    pub nofile: Cell<(u64, u64)>,
    pub paranoid: Option<i32>,
    /// Records written into the first ring mapped for a CPU.
    pub prefill: RefCell<HashMap<i32, Vec<Vec<u8>>>>,
    /// Records written into a task-bound (calibration) event's ring.
    pub task_prefill: RefCell<Vec<Vec<u8>>>,
    pub opened: RefCell<Vec<Opened>>,
    pub attempts: Cell<usize>,
    pub outputs: RefCell<Vec<(i32, i32)>>,
    pub filters: RefCell<Vec<(i32, String)>>,
    pub enabled: Cell<usize>,
    pub mapped: RefCell<Vec<i32>>,
    pub fds: RefCell<HashMap<RawFd, Opened>>,
    /// Kernels before 4.7 refuse write_backward with EINVAL.
    pub backward_ok: bool,
    /// Kernels before 3.7 refuse PERF_SAMPLE_REGS_USER / STACK_USER with EINVAL.
    pub stack_dump_ok: bool,
    /// (cpu, paused) for every PAUSE_OUTPUT asked.
    pub pauses: RefCell<Vec<(i32, bool)>>,
}

impl Default for FakeKernel {
    fn default() -> FakeKernel {
        FakeKernel {
            cpus: "0-1\n".into(),
            max_attr_size: u32::MAX,
            clockid_ok: true,
            cloexec_ok: true,
            set_output_ok: true,
            missing: Vec::new(),
            deny: None,
            nofile: Cell::new((1024, 4096)),
            paranoid: Some(2),
            prefill: RefCell::new(HashMap::new()),
            task_prefill: RefCell::new(Vec::new()),
            opened: RefCell::new(Vec::new()),
            attempts: Cell::new(0),
            outputs: RefCell::new(Vec::new()),
            filters: RefCell::new(Vec::new()),
            enabled: Cell::new(0),
            mapped: RefCell::new(Vec::new()),
            fds: RefCell::new(HashMap::new()),
            backward_ok: true,
            stack_dump_ok: true,
            pauses: RefCell::new(Vec::new()),
        }
    }
}

fn err(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

impl FakeKernel {
    fn info(&self, fd: BorrowedFd<'_>) -> Opened {
        self.fds.borrow()[&fd.as_raw_fd()]
    }
}

impl Kernel for FakeKernel {
    fn perf_event_open(
        &self,
        attr: &mut perf_event_attr,
        pid: i32,
        cpu: i32,
        _group_fd: i32,
        flags: u64,
    ) -> io::Result<OwnedFd> {
        self.attempts.set(self.attempts.get() + 1);
        if attr.size > self.max_attr_size {
            attr.size = self.max_attr_size;
            return Err(err(libc::E2BIG));
        }
        let cloexec = flags & PERF_FLAG_FD_CLOEXEC as u64 != 0;
        if cloexec && !self.cloexec_ok {
            return Err(err(libc::EINVAL));
        }
        let clockid = attr.use_clockid() != 0;
        if clockid && !self.clockid_ok {
            return Err(err(libc::EINVAL));
        }
        let backward = attr.write_backward() != 0;
        if backward && !self.backward_ok {
            return Err(err(libc::EINVAL));
        }
        let stack_dump =
            if attr.sample_type & perf_event_open_sys::bindings::PERF_SAMPLE_STACK_USER as u64 != 0
            {
                attr.sample_stack_user
            } else {
                0
            };
        if stack_dump > 0 && !self.stack_dump_ok {
            return Err(err(libc::EINVAL));
        }
        let id = attr.config as u32;
        if let Some(&(_, e)) = self.missing.iter().find(|(m, _)| *m == id) {
            return Err(err(e));
        }
        if let (Some(e), -1) = (self.deny, pid) {
            return Err(err(e));
        }
        let fd: OwnedFd = std::fs::File::open("/dev/null")?.into();
        let o = Opened {
            id,
            cpu,
            pid,
            size: attr.size,
            clockid,
            cloexec,
            watermark: attr.wakeup_watermark,
            backward,
            stack_dump,
        };
        self.fds.borrow_mut().insert(fd.as_raw_fd(), o);
        self.opened.borrow_mut().push(o);
        Ok(fd)
    }

    fn set_output(&self, fd: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
        if !self.set_output_ok {
            return Err(err(libc::EINVAL));
        }
        let (a, b) = (self.info(fd), self.info(target));
        assert_eq!(a.cpu, b.cpu, "SET_OUTPUT across CPUs");
        self.outputs.borrow_mut().push((a.cpu, a.id as i32));
        Ok(())
    }

    fn set_filter(&self, fd: BorrowedFd<'_>, filter: &CStr) -> io::Result<()> {
        let f = filter.to_string_lossy().into_owned();
        if f.contains("bogus") {
            return Err(err(libc::EINVAL));
        }
        self.filters.borrow_mut().push((self.info(fd).cpu, f));
        Ok(())
    }

    fn enable(&self, _fd: BorrowedFd<'_>) -> io::Result<()> {
        self.enabled.set(self.enabled.get() + 1);
        Ok(())
    }

    fn disable(&self, _fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(())
    }

    fn pause_output(&self, fd: BorrowedFd<'_>, paused: bool) -> io::Result<()> {
        self.pauses.borrow_mut().push((self.info(fd).cpu, paused));
        Ok(())
    }

    fn mmap_ring(
        &self,
        fd: BorrowedFd<'_>,
        data_pages: usize,
        writable: bool,
    ) -> io::Result<RingMap> {
        let o = self.info(fd);
        let recs = if o.pid >= 0 {
            std::mem::take(&mut *self.task_prefill.borrow_mut())
        } else {
            self.prefill.borrow_mut().remove(&o.cpu).unwrap_or_default()
        };
        let map = if writable {
            let mut map = RingMap::heap(data_pages, self.page_size());
            for r in recs {
                assert!(map.fake_write(&r), "prefill larger than the ring");
            }
            map
        } else {
            // An overwrite ring: the prefill goes round as often as it needs to.
            assert!(
                o.backward,
                "read-only rings are only mapped for write_backward events"
            );
            let mut map = RingMap::heap_overwrite(data_pages, self.page_size());
            for r in recs {
                map.fake_write_backward(&r);
            }
            map
        };
        self.mapped.borrow_mut().push(o.cpu);
        Ok(map)
    }

    fn poll(&self, _fds: &[BorrowedFd<'_>], _timeout_ms: i32) -> io::Result<usize> {
        Err(err(libc::EINTR))
    }

    fn online_cpus_text(&self) -> io::Result<String> {
        Ok(self.cpus.clone())
    }

    fn nofile_limit(&self) -> io::Result<(u64, u64)> {
        Ok(self.nofile.get())
    }

    fn set_nofile_soft(&self, soft: u64) -> io::Result<()> {
        let (_, hard) = self.nofile.get();
        self.nofile.set((soft, hard));
        Ok(())
    }

    fn perf_event_paranoid(&self) -> Option<i32> {
        self.paranoid
    }

    fn page_size(&self) -> usize {
        4096
    }
}
