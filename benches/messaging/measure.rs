//! What the bench reads from the kernel: CPU time (getrusage) and memory
//! (`/proc/self/status`), and the medians it reports.

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeVal;

/// CPU time used so far, user and system, in µs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cpu {
    pub(crate) user_us: f64,
    pub(crate) system_us: f64,
}

impl Cpu {
    /// This process, every thread it ever had included (`RUSAGE_SELF`).
    pub(crate) fn process() -> Cpu {
        Cpu::of(UsageWho::RUSAGE_SELF)
    }

    /// The calling thread only (`RUSAGE_THREAD`).
    pub(crate) fn thread() -> Cpu {
        Cpu::of(UsageWho::RUSAGE_THREAD)
    }

    fn of(who: UsageWho) -> Cpu {
        let usage = getrusage(who).expect("getrusage of this process cannot fail");
        Cpu {
            user_us: micros(usage.user_time()),
            system_us: micros(usage.system_time()),
        }
    }

    /// The CPU used between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user_us: self.user_us - earlier.user_us,
            system_us: self.system_us - earlier.system_us,
        }
    }

    pub(crate) fn total_us(self) -> f64 {
        self.user_us + self.system_us
    }

    /// The kernel's share of the total, 0 to 1.
    pub(crate) fn system_share(self) -> f64 {
        self.system_us / self.total_us().max(f64::MIN_POSITIVE)
    }
}

fn micros(t: TimeVal) -> f64 {
    t.tv_sec() as f64 * 1e6 + t.tv_usec() as f64
}

/// A `/proc/self/status` field: VmRSS and VmHWM in KiB, Threads a count.
pub(crate) fn status_field(name: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `values` with `decimals` decimals, separated by "; ".
pub(crate) fn list(values: &[f64], decimals: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.decimals$}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `n` with commas between thousands, as the table's labels write counts.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
