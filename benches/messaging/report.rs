//! The table: printed as markdown, and with `IOTCS_BENCH_WRITE=1` written
//! into BENCHMARKS.md between the `messaging-bench` markers, with the date
//! and the machine.

use std::path::Path;
use std::time::SystemTime;

use crate::Row;

const BEGIN: &str = "<!-- messaging-bench:begin -->";
const END: &str = "<!-- messaging-bench:end -->";

/// The whole report: heading, machine, table, notes.
pub(crate) fn render(rows: &[Row], dir: &Path, notes: &[String]) -> String {
    let mut out = format!("### `cargo bench --bench messaging`, {}\n\n", utc_now());
    out += &format!(
        "Machine: {}; temp dir on {}.\n\n",
        machine(),
        filesystem(dir)
    );
    out += "| benchmark | median | runs |\n|---|---|---|\n";
    for row in rows {
        out += &format!("| {} | {} | {} |\n", row.name, row.value, row.runs);
    }
    out += "\n";
    for note in notes {
        out += &format!("- {note}\n");
    }
    out
}

/// Replaces the section between the markers in BENCHMARKS.md (or appends
/// one) with `report`.
pub(crate) fn write_benchmarks_md(report: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let section = format!("{BEGIN}\n{report}{END}\n");
    let updated = match (text.find(BEGIN), text.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            let after = text[end + END.len()..].trim_start_matches('\n');
            format!("{}{section}{after}", &text[..begin])
        }
        _ => format!("{}\n\n{section}", text.trim_end()),
    };
    std::fs::write(&path, updated).unwrap();
    println!("wrote the table to {}", path.display());
}

/// CPU model, cores and kernel.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}

/// The file system type of the mount holding `dir` (`/proc/mounts`: the
/// longest mount point that is a prefix of it).
fn filesystem(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let (device, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            dir.starts_with(point)
                .then(|| (point.len(), format!("{kind} ({device})")))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "an unknown file system".into(), |(_, fs)| fs)
}

/// Now as `YYYY-MM-DD HH:MM UTC`, from the core's ISO-8601 writer.
fn utc_now() -> String {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis()) as i64;
    let iso = iotcs_core::__private::time::format_iso8601(ms);
    // `2026-11-30T01:14:05.123Z`: the date, and the time to the minute.
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}
