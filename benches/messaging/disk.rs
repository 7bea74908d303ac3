//! The disk's own limit for durable messages: a bare loop of 300-byte
//! `pwrite`s at increasing offsets, each followed by `fdatasync`, in the
//! directory where the device children keep their message stores. GUARANTEED
//! figures are read as fractions of it.
//!
//! Two layouts: over space written (and synced) beforehand, the reference,
//! where a sync flushes the data alone; and appending to a growing file,
//! where each sync also commits the new size (on ext4, a journal commit that
//! waits for whatever else the machine has written to that file system).

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use crate::measure::Cpu;

/// Writes (and syncs) per run over preallocated space.
pub(crate) const SYNCS: usize = 2_000;
/// Writes (and syncs) per run appending: fewer, since on a busy file system
/// each costs a journal commit.
pub(crate) const APPENDS: usize = 1_000;
/// About the size of one queued message's wire JSON.
const RECORD_BYTES: usize = 300;

/// One run of the loop in each layout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BareRun {
    /// Over preallocated space: syncs per second, CPU µs per write + sync.
    pub(crate) rate: f64,
    pub(crate) cpu_us: f64,
    /// Appending: syncs per second.
    pub(crate) append_rate: f64,
}

/// Runs the loop in `dir` in both layouts.
pub(crate) fn bare_loop(dir: &Path) -> BareRun {
    let (rate, cpu_us) = one_layout(dir, SYNCS, true);
    let (append_rate, _) = one_layout(dir, APPENDS, false);
    BareRun {
        rate,
        cpu_us,
        append_rate,
    }
}

/// `syncs` writes + syncs on a fresh file, removed after; returns the rate
/// and the looping thread's CPU (user + system) per write + sync.
fn one_layout(dir: &Path, syncs: usize, preallocated: bool) -> (f64, f64) {
    let path = dir.join("bare-fdatasync.bin");
    let file = std::fs::File::create(&path).unwrap();
    if preallocated {
        file.write_all_at(&vec![0; syncs * RECORD_BYTES], 0)
            .unwrap();
        file.sync_all().unwrap();
    }
    let record = [b'x'; RECORD_BYTES];
    let cpu = Cpu::thread();
    let started = Instant::now();
    for i in 0..syncs {
        file.write_all_at(&record, (i * RECORD_BYTES) as u64)
            .unwrap();
        file.sync_data().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let used = Cpu::thread().since(cpu);
    drop(file);
    std::fs::remove_file(&path).unwrap();
    (syncs as f64 / elapsed, used.total_us() / syncs as f64)
}
