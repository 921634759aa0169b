//! The two ways the bench places processes on cores. Pinned: each server on core 0 with one
//! worker, loadgen on core 1, so that the servers compare core for core and the load generator
//! never takes the server's CPU. Unpinned: workers = cores and nothing pinned, everything
//! sharing every core, as a server is usually deployed.

use std::ffi::OsStr;
use std::process::Command;

/// Where the server's processes may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Mode {
    Pinned,
    Unpinned,
}

/// Every mode, in the order a full run measures them.
pub(super) const MODES: [Mode; 2] = [Mode::Pinned, Mode::Unpinned];

/// The core pinned servers (and their helpers) run on.
pub(super) const SERVER_CORE: &str = "0";
/// The core pinned loadgen (and the profiler) run on.
pub(super) const LOADGEN_CORE: &str = "1";

impl Mode {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Pinned => "pinned",
            Self::Unpinned => "unpinned",
        }
    }

    /// Worker threads (or processes) each server runs: one pinned, one per core unpinned.
    pub(super) fn workers(self) -> usize {
        match self {
            Self::Pinned => 1,
            Self::Unpinned => std::thread::available_parallelism().map_or(1, usize::from),
        }
    }

    /// A command running `program` on `core` when pinned (`taskset -c CORE PROGRAM`; children
    /// inherit the mask), anywhere otherwise.
    pub(super) fn command(self, core: &str, program: impl AsRef<OsStr>) -> Command {
        match self {
            Self::Pinned => {
                let mut taskset = Command::new("taskset");
                taskset.args(["-c", core]).arg(program);
                taskset
            }
            Self::Unpinned => Command::new(program),
        }
    }

    /// The placement in words, for the report.
    pub(super) fn describe(self) -> &'static str {
        match self {
            Self::Pinned => {
                "each server pinned to core 0 with one worker (Herald `--workers 1`, axum \
                 `TOKIO_WORKER_THREADS=1`, nginx `worker_processes 1`, Pushpin's condure \
                 `--workers 1` and its single-threaded proxy and handler); loadgen pinned to \
                 core 1"
            }
            Self::Unpinned => {
                "nothing pinned: every server runs workers = cores (the same four settings), \
                 sharing every core with loadgen"
            }
        }
    }
}
