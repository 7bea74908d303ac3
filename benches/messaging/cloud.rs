//! The parent's side: the local cloud (in this process), a freshly
//! provisioned device per run, and the device children it drives.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use iotcs_server::{AdminClient, DeviceRegistration, Fault, Server, ServerConfig};
use tempfile::TempDir;

use crate::measure::Cpu;
use crate::{CHILD, PASSPHRASE};

/// The path every message POST (and long poll) goes to.
const MESSAGES: &str = "/iot/api/v2/messages";
/// Uses of the fault rules the bench injects: more than any run makes.
const FAULT_USES: u32 = 1_000_000;

/// The local cloud, and a fresh provisioned device for every run.
pub(crate) struct Bench {
    server: iotcs_server::ServerHandle,
    pub(crate) admin: AdminClient,
    dir: TempDir,
    /// Devices provisioned so far.
    devices: usize,
    /// Whether the cloud keeps its state on disk.
    pub(crate) persistent: bool,
}

impl Bench {
    pub(crate) fn start() -> Bench {
        let dir = TempDir::with_prefix("bench-messaging").unwrap();
        let mut cloud = ServerConfig::for_tests()
            .long_poll_limit(Duration::from_secs(30))
            .max_messages(200_000)
            .max_body_bytes(16 * 1024 * 1024);
        // With `IOTCS_BENCH_PERSISTENT_CLOUD` set, the cloud keeps its state on
        // disk as `iotcs-server serve` does (each 2xx waits for a sync);
        // otherwise it is in memory only, as with `--ephemeral`.
        let persistent = std::env::var_os("IOTCS_BENCH_PERSISTENT_CLOUD").is_some();
        if persistent {
            cloud = cloud.data_dir(dir.path().join("cloud"));
        }
        let server = Server::start(cloud).unwrap();
        let admin = server.admin().unwrap();
        Bench {
            server,
            admin,
            dir,
            devices: 0,
            persistent,
        }
    }

    /// Where the children keep their stores (and the bare loop its file).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Provisions a new device (a gateway if `gateway`); returns its
    /// trusted assets store.
    pub(crate) fn device(&mut self, gateway: bool) -> PathBuf {
        self.devices += 1;
        let id = format!("bench-{}", self.devices);
        let registration = DeviceRegistration::new(&id).gateway(gateway);
        let (_, store) = self.admin.provision(&registration, PASSPHRASE).unwrap();
        let path = self.dir.path().join(format!("{id}.tas"));
        std::fs::write(&path, store).unwrap();
        path
    }

    /// From now on the cloud answers every message POST with 503, as a
    /// cloud that is down would, so the children's messages stay queued.
    pub(crate) fn refuse_messages(&self) {
        let refuse = Fault::status(503).times(FAULT_USES).on_path(MESSAGES);
        self.admin.inject_fault(&refuse).unwrap();
    }

    /// From now on each message POST (and long poll: same path) takes one
    /// use of a rule that delays it by nothing, so [`Bench::posts_counted`]
    /// can tell how many there were.
    pub(crate) fn count_posts(&self) {
        let count = Fault::delay(Duration::ZERO)
            .times(FAULT_USES)
            .on_path(MESSAGES);
        self.admin.inject_fault(&count).unwrap();
    }

    /// POSTs to the messages path since [`Bench::count_posts`], read from
    /// the uses the rule has left (the admin API's fault list).
    pub(crate) fn posts_counted(&self) -> u64 {
        let rules = self.admin.faults().unwrap();
        let left = rules
            .iter()
            .find_map(|r| r.get("count")?.as_u64())
            .expect("the counting rule is listed");
        u64::from(FAULT_USES) - left
    }

    pub(crate) fn clear_faults(&self) {
        self.admin.clear_faults().unwrap();
    }

    pub(crate) fn shutdown(self) {
        drop(self.admin);
        self.server.shutdown().unwrap();
    }
}

/// The message store of the device whose trusted assets are at `store`.
pub(crate) fn db_of(store: &Path) -> PathBuf {
    let stem = store.file_stem().unwrap().to_string_lossy();
    store.with_file_name(format!("msps-{stem}.db"))
}

/// A device child: this binary again, with the spec in `IOTCS_BENCH_CHILD`.
/// It talks in lines: `RESULT key value` (a figure), `MARK name` (the
/// parent notes its own CPU and the time), anything else is returned by
/// [`Child::until`].
pub(crate) struct Child {
    process: std::process::Child,
    lines: Lines<BufReader<ChildStdout>>,
    results: HashMap<String, f64>,
    marks: HashMap<String, (Cpu, Instant)>,
}

impl Child {
    /// Starts a child in `mode` on the device of `store`.
    pub(crate) fn spawn(mode: &str, store: &Path) -> Child {
        let spec = format!("{mode}\n{}\n{}", store.display(), db_of(store).display());
        let mut process = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = BufReader::new(process.stdout.take().unwrap()).lines();
        Child {
            process,
            lines,
            results: HashMap::new(),
            marks: HashMap::new(),
        }
    }

    /// Reads lines until one starting with `word`; returns the rest of it,
    /// or `None` if the child's output ends first.
    pub(crate) fn until(&mut self, word: &str) -> Option<String> {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("RESULT ") {
                let (key, value) = rest.split_once(' ').unwrap();
                self.results.insert(key.to_owned(), value.parse().unwrap());
            } else if let Some(name) = line.strip_prefix("MARK ") {
                self.marks
                    .insert(name.to_owned(), (Cpu::process(), Instant::now()));
            } else if let Some(rest) = line.strip_prefix(word) {
                return Some(rest.trim().to_owned());
            }
        }
        None
    }

    /// Sends the child one line on its stdin.
    pub(crate) fn say(&mut self, line: &str) {
        let stdin = self.process.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
    }

    /// Closes the child's stdin (its cue to end, for those that wait on
    /// it), reads the rest of its output and waits for a successful exit.
    pub(crate) fn finish(mut self) -> Finished {
        drop(self.process.stdin.take());
        let _ = self.until("\u{0}never");
        let status = self.process.wait().unwrap();
        assert!(status.success(), "a device child failed: {status}");
        Finished {
            results: self.results,
            marks: self.marks,
        }
    }
}

/// What a child reported, and what the parent noted at its marks.
pub(crate) struct Finished {
    results: HashMap<String, f64>,
    marks: HashMap<String, (Cpu, Instant)>,
}

impl Finished {
    /// The figure the child reported as `key`.
    pub(crate) fn get(&self, key: &str) -> f64 {
        *self
            .results
            .get(key)
            .unwrap_or_else(|| panic!("the child reported no {key}"))
    }

    /// The figure the child reported as `key`, if it reported one.
    pub(crate) fn try_get(&self, key: &str) -> Option<f64> {
        self.results.get(key).copied()
    }

    /// The parent's (the cloud's) CPU between the child's `MARK start` and
    /// `MARK end`.
    pub(crate) fn cloud_cpu(&self) -> Cpu {
        let mark = |name: &str| {
            self.marks
                .get(name)
                .unwrap_or_else(|| panic!("no MARK {name}"))
                .0
        };
        mark("end").since(mark("start"))
    }
}
