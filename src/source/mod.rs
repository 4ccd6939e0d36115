//! Sources of raw samples, and the merge that turns per-ring (or per-CPU) streams into
//! one time-ordered stream. Live capture and capture files feed the same merge, so the
//! rest of the pipeline never knows where records came from.

pub mod file;
pub mod merge;
mod scap_file;

pub use merge::{MergeStats, Merger, REORDER_WINDOW_NS, watermark};
