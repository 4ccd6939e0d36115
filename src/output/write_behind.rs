//! Event output written by a thread of its own, so rendering never waits on the reader.
//!
//! `tpdig -r c.cap | wc -l`: with the write on the rendering thread, every full pipe puts
//! the renderer to sleep until `wc` has read, and each write's copy into the pipe is time
//! the renderer is not rendering. Here the renderer fills 64 KiB chunks and hands them to
//! a writer thread over a short queue; used chunks come back for reuse, so memory stays at
//! a few chunks. `flush` waits until everything handed over is written, so a flush means
//! what it means for any writer (other handles on the same stream write after it). The
//! first write error ends the thread and is returned, with its kind (a closed pipe stays
//! `BrokenPipe`, which the caller treats as a quiet end), by the next write or flush.

use nix::sys::signal::{SigSet, SigmaskHow};
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

/// Bytes collected before a chunk is handed over.
const CHUNK: usize = 64 * 1024;
/// Chunks that may wait for the writer thread.
const QUEUE: usize = 8;

enum Job {
    Bytes(Vec<u8>),
    /// Reply once every chunk before this one is written.
    Flush(SyncSender<()>),
}

pub struct WriteBehind {
    jobs: Option<SyncSender<Job>>,
    spare: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    thread: Option<JoinHandle<io::Result<()>>>,
    /// The writer thread's error, once it has ended with one.
    failed: Option<io::Error>,
}

impl WriteBehind {
    pub fn new(mut out: Box<dyn Write + Send>) -> WriteBehind {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let (give_back, spare): (Sender<Vec<u8>>, _) = channel();
        // The thread starts with every signal blocked: SIGINT and SIGTERM must reach the
        // capture loop's signalfd (see `signals`), never a thread that would let them kill.
        let unblocked = SigSet::all().thread_swap_mask(SigmaskHow::SIG_BLOCK).ok();
        let thread = std::thread::spawn(move || -> io::Result<()> {
            for job in queue {
                match job {
                    Job::Bytes(mut b) => {
                        out.write_all(&b)?;
                        b.clear();
                        let _ = give_back.send(b);
                    }
                    Job::Flush(done) => {
                        out.flush()?;
                        let _ = done.send(());
                    }
                }
            }
            out.flush()
        });
        if let Some(mask) = unblocked {
            let _ = mask.thread_set_mask();
        }
        WriteBehind {
            jobs: Some(jobs),
            spare,
            buf: Vec::with_capacity(CHUNK),
            thread: Some(thread),
            failed: None,
        }
    }

    /// Hands `job` to the thread; when the thread has ended, its error.
    fn send(&mut self, job: Job) -> io::Result<()> {
        match &self.jobs {
            Some(jobs) if self.failed.is_none() && jobs.send(job).is_ok() => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// The error the thread ended with: taken from it the first time, repeated after.
    fn stopped(&mut self) -> io::Error {
        let e = match self.failed.take() {
            Some(e) => e,
            None => self.finish().err().unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::BrokenPipe, "output writer stopped")
            }),
        };
        let again = io::Error::new(e.kind(), e.to_string());
        self.failed = Some(e);
        again
    }

    fn hand_over(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        self.send(Job::Bytes(full))
    }

    /// Closes the queue and waits for the thread: what it wrote last, or its error.
    fn finish(&mut self) -> io::Result<()> {
        self.jobs = None;
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("output writer thread panicked")),
        }
    }
}

impl Write for WriteBehind {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.hand_over()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()?;
        let (done, wait) = sync_channel(1);
        self.send(Job::Flush(done))?;
        // No answer: the thread ended before writing everything.
        wait.recv().map_err(|_| self.stopped())
    }
}

impl Drop for WriteBehind {
    /// Writes what is left, as a dropped `BufWriter` does (errors are lost, as there).
    fn drop(&mut self) {
        let _ = self.hand_over();
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn flush_means_written_and_order_is_kept() {
        let sink = Shared::default();
        let mut w = WriteBehind::new(Box::new(sink.clone()));
        let mut expect = Vec::new();
        for i in 0..20_000u32 {
            let line = format!("line {i}\n");
            w.write_all(line.as_bytes()).unwrap();
            expect.extend_from_slice(line.as_bytes());
        }
        w.flush().unwrap();
        assert_eq!(*sink.0.lock().unwrap(), expect);
        w.write_all(b"tail\n").unwrap();
        drop(w);
        assert!(sink.0.lock().unwrap().ends_with(b"line 19999\ntail\n"));
    }

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_comes_back_as_broken_pipe() {
        let mut w = WriteBehind::new(Box::new(Closed));
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = w.write_all(&[b'x'; 4096]).and_then(|_| w.flush()) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::BrokenPipe));
        // Every later call says the same.
        assert_eq!(w.flush().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
