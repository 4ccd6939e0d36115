//! What tpdig knows about the system beyond a single record: threads and their names.
//!
//! The state starts from a /proc snapshot taken before the rings are enabled (exact for that
//! moment) and is kept current only by events read synchronously from the kernel. Nothing
//! here reads user memory or /proc after start-up.

pub mod apply;
pub mod proc_scan;
pub mod threads;

pub use threads::{Comm, Thread, ThreadTable};
