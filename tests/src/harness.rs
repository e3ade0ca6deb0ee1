//! Starts a `spicebox` server for one test and stops it again.
//!
//! Every [`Server`] gets a free port on 127.0.0.1, its own temporary directory
//! (control socket, logs, screendumps) and is stopped by PID when dropped:
//! SIGTERM, then SIGKILL after a grace period, then reaped. Worker processes
//! the server reported in `ctl status` and that outlive it are killed by PID
//! as well (and reported, since that is a server bug). When the test panics
//! the directory is kept and the end of the server log is printed.
//!
//! External programs (`spicebox ctl`, `spicy-screenshot`) run under
//! [`run_with_timeout`], so no test can hang on them.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

pub use crate::image::{assert_same_image, diff, Image, ImageDiff};

/// How long a server may take to listen and answer `ctl status`.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server may take to exit after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// Bound on one `spicebox ctl` command.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on one `spicy-screenshot` run.
pub const SCREENSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root (the parent of this crate's folder).
pub fn workspace_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_dir().join(d)
            }
        }
        _ => workspace_dir().join("target"),
    }
}

/// The `spicebox` binary under test: `SPICEBOX_BIN` if set, else
/// `<target>/debug/spicebox`. Panics with instructions when it is missing.
pub fn spicebox_bin() -> PathBuf {
    let (path, origin) = match std::env::var_os("SPICEBOX_BIN") {
        Some(p) if !p.is_empty() => (PathBuf::from(p), "SPICEBOX_BIN"),
        _ => (
            target_dir().join("debug").join("spicebox"),
            "the default location",
        ),
    };
    if !path.is_file() {
        panic!(
            "spicebox binary not found at {} ({origin}). Build it first with \
             `cargo build -p spicebox-supervisor --bin spicebox` (scripts/test.sh does this), \
             or point SPICEBOX_BIN at it.",
            path.display()
        );
    }
    path
}

// ---------------------------------------------------------------------------
// Temporary directories

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under the system temp dir, removed on drop unless
/// [`TempDir::keep`] was called or the thread is panicking (a failed test
/// leaves its files for post-mortem). Kept short: it holds a Unix socket,
/// whose path must fit in 108 bytes.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// Creates `<tmp>/<prefix>-<pid>-<n>`.
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        let base = std::env::temp_dir();
        for _ in 0..1000 {
            let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("{prefix}-{}-{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path, keep: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free temporary directory name"))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory after drop (for post-mortem).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.keep {
            eprintln!("kept {} for post-mortem", self.path.display());
        } else if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// Running programs with a time limit

/// What a program run by [`run_with_timeout`] did.
#[derive(Debug)]
pub struct RunOutput {
    /// Exit status; `None` when it was killed for running too long.
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything it wrote to stderr (lossy UTF-8).
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl RunOutput {
    /// True when the program exited by itself with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// A one-line summary for error messages.
    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after {:?} (time-out)", self.elapsed),
        };
        format!(
            "{status}; stdout: {:?}; stderr: {:?}",
            tail(&self.stdout, 2000),
            tail(&self.stderr, 4000)
        )
    }
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Runs `cmd` (stdin closed, stdout and stderr captured) for at most
/// `timeout`. A program still running then is killed by its PID and reaped.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> std::io::Result<RunOutput> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (tx, rx) = std::sync::mpsc::channel();
    for (idx, pipe) in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                // Bounded: at most 16 MiB kept.
                let _ = p.by_ref().take(16 << 20).read_to_end(&mut buf);
            }
            let _ = tx.send((idx, buf));
        });
    }
    drop(tx);
    let deadline = start + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // `Child::kill` sends SIGKILL to this child's PID.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let mut outs = [Vec::new(), Vec::new()];
    // The pipes close when the program is gone, unless it left a child
    // holding them: wait a little, not for ever.
    let collect_deadline = Instant::now() + Duration::from_secs(5);
    for _ in 0..2 {
        let left = collect_deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((idx, buf)) => outs[idx] = buf,
            Err(_) => break,
        }
    }
    Ok(RunOutput {
        status,
        stdout: String::from_utf8_lossy(&outs[0]).into_owned(),
        stderr: String::from_utf8_lossy(&outs[1]).into_owned(),
        elapsed,
    })
}

// ---------------------------------------------------------------------------
// /proc helpers

/// The fields of `/proc/PID/stat` the tests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Process state letter (R, S, Z, …).
    pub state: char,
    /// Parent PID.
    pub ppid: u32,
    /// Start time in clock ticks since boot (tells a PID's reuse apart).
    pub starttime: u64,
}

/// Reads `/proc/PID/stat`; `None` when the process does not exist.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold ") ".
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        starttime: fields.get(19)?.parse().ok()?,
    })
}

/// True when `pid` names a process that is alive (not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

fn send_signal(pid: u32, sig: Signal) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).is_ok()
}

/// True when something listens on 127.0.0.1:`port` (from /proc/net/tcp,
/// so that the check itself makes no connection the server would log).
/// `None` when /proc/net/tcp cannot be read.
fn loopback_listening(port: u16) -> Option<bool> {
    let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let want_addr = format!("0100007F:{port:04X}");
    let any_addr = format!("00000000:{port:04X}");
    Some(text.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() > 3 && (f[1] == want_addr || f[1] == any_addr) && f[3] == "0A"
    }))
}

/// `spicebox --help`, for tests that adapt to the flags the server has.
pub fn spicebox_help() -> String {
    let mut cmd = Command::new(spicebox_bin());
    cmd.arg("--help").env("NO_COLOR", "1");
    match run_with_timeout(&mut cmd, CTL_TIMEOUT) {
        Ok(out) => out.stdout,
        Err(e) => panic!("running spicebox --help: {e}"),
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0 to find a free port");
    l.local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// Removes terminal colour/style escapes (`ESC [ … letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The server

/// A running `spicebox` for one test. Dropping it stops the server.
pub struct Server {
    child: Option<Child>,
    pid: u32,
    port: u16,
    bin: PathBuf,
    dir: TempDir,
    ctl_socket: PathBuf,
    log_path: PathBuf,
    /// PIDs (with start times) of the host and worker processes seen in
    /// `ctl status`, checked for leaks when the server stops.
    children_seen: Mutex<Vec<(u32, u64)>>,
    dumps: AtomicU64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("pid", &self.pid)
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl Server {
    /// Starts `spicebox ARGS --addr 127.0.0.1 --port P --control DIR/ctl.sock`
    /// and waits until it listens and answers `ctl status`. Panics (with the
    /// server's log) if it does not come up within [`START_TIMEOUT`].
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// Like [`Server::start`], with extra environment variables. The
    /// variables `SPICEBOX_PASSWORD` and `SPICEBOX_LOG` (the server's log
    /// filter) of the test process are not passed on unless given here;
    /// `SPICEBOX_TEST_LOG` sets the server's `SPICEBOX_LOG`.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        match Server::try_start(args, env) {
            Ok(s) => s,
            Err(e) => panic!("spicebox did not start: {e}"),
        }
    }

    /// Fallible start; a port taken between choosing and binding it is
    /// retried with another port (at most 3 attempts).
    pub fn try_start(args: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        let bin = spicebox_bin();
        let mut last_err = String::new();
        for _attempt in 0..3 {
            match Server::start_once(&bin, args, env) {
                Ok(s) => return Ok(s),
                Err((e, port_clash)) => {
                    last_err = e;
                    if !port_clash {
                        break;
                    }
                }
            }
        }
        Err(last_err)
    }

    fn start_once(
        bin: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Server, (String, bool)> {
        let dir = TempDir::new("spicebox-test").map_err(|e| (format!("temp dir: {e}"), false))?;
        let port = free_port();
        let ctl_socket = dir.path().join("ctl.sock");
        let log_path = dir.path().join("spicebox.log");
        let stdout_path = dir.path().join("spicebox.stdout");
        let log_file =
            std::fs::File::create(&log_path).map_err(|e| (format!("log file: {e}"), false))?;
        let out_file = std::fs::File::create(&stdout_path)
            .map_err(|e| (format!("stdout file: {e}"), false))?;

        // Tests serve on loopback only.
        if let Some(i) = args.iter().position(|a| *a == "--addr") {
            let addr = args.get(i + 1).copied().unwrap_or("");
            if addr != "127.0.0.1" {
                return Err((
                    format!("tests may only listen on 127.0.0.1, not {addr:?}"),
                    false,
                ));
            }
        }
        if args.iter().any(|a| a.starts_with("--addr=")) {
            return Err((
                "pass --addr as two arguments (and only 127.0.0.1)".into(),
                false,
            ));
        }
        let mut cmd = Command::new(bin);
        cmd.args(args);
        if !args.contains(&"--addr") {
            cmd.args(["--addr", "127.0.0.1"]);
        }
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--control")
            .arg(&ctl_socket)
            .env_remove("SPICEBOX_PASSWORD")
            .env_remove("SPICEBOX_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out_file)
            .stderr(log_file);
        if let Ok(filter) = std::env::var("SPICEBOX_TEST_LOG") {
            cmd.env("SPICEBOX_LOG", filter);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        // The server dies with the test thread that started it, even when
        // the test binary is killed without running Drop.
        let staged = spicebox_sandbox::prepare_child(&mut cmd, Vec::new())
            .map_err(|e| (format!("preparing the server process: {e}"), false))?;
        let child = cmd
            .spawn()
            .map_err(|e| (format!("spawning {}: {e}", bin.display()), false))?;
        drop(staged);
        let mut server = Server {
            pid: child.id(),
            child: Some(child),
            port,
            bin: bin.to_path_buf(),
            dir,
            ctl_socket,
            log_path,
            children_seen: Mutex::new(Vec::new()),
            dumps: AtomicU64::new(0),
        };
        match server.wait_ready() {
            Ok(()) => Ok(server),
            Err(e) => {
                let log = server.log_text();
                let clash = log.contains("in use") || log.contains("AddrInUse");
                // Keep the directory only when we give up for good.
                if !clash {
                    server.dir.keep();
                }
                Err((
                    format!(
                        "{e}\n--- server log ({}) ---\n{}",
                        server.log_path.display(),
                        tail(&log, 6000)
                    ),
                    clash,
                ))
            }
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut listening = false;
        let mut last_ctl_err = String::from("control socket not tried yet");
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("spicebox exited during start-up: {status}"));
                }
            }
            if !listening {
                listening = match loopback_listening(self.port) {
                    Some(l) => l,
                    // No /proc/net/tcp: fall back to connecting.
                    None => std::net::TcpStream::connect_timeout(
                        &self.addr(),
                        Duration::from_millis(200),
                    )
                    .is_ok(),
                };
            }
            if listening && self.ctl_socket.exists() {
                match self.try_ctl_status() {
                    Ok(_) => return Ok(()),
                    Err(e) => last_ctl_err = e,
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not ready after {START_TIMEOUT:?}: listening on 127.0.0.1:{}: {listening}; \
                     last `ctl status`: {last_ctl_err}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The TCP port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// 127.0.0.1:port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The supervisor's PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's temporary directory (control socket, logs, dumps).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The control socket path.
    pub fn ctl_socket(&self) -> &Path {
        &self.ctl_socket
    }

    /// Runs `spicebox ctl --socket SOCK ARGS…` with [`CTL_TIMEOUT`].
    pub fn ctl(&self, args: &[&str]) -> Result<RunOutput, String> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("ctl")
            .arg("--socket")
            .arg(&self.ctl_socket)
            .args(args)
            .env("NO_COLOR", "1");
        run_with_timeout(&mut cmd, CTL_TIMEOUT).map_err(|e| format!("running spicebox ctl: {e}"))
    }

    /// Runs `spicebox ctl ARGS` and panics unless it succeeded.
    pub fn ctl_ok(&self, args: &[&str]) -> RunOutput {
        let out = self
            .ctl(args)
            .unwrap_or_else(|e| panic!("ctl {}: {e}", args.join(" ")));
        assert!(
            out.success(),
            "ctl {} failed: {}",
            args.join(" "),
            out.describe()
        );
        out
    }

    /// `ctl status`, parsed, or why not.
    pub fn try_ctl_status(&self) -> Result<serde_json::Value, String> {
        let out = self.ctl(&["status"])?;
        if !out.success() {
            return Err(format!("ctl status failed: {}", out.describe()));
        }
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
            .map_err(|e| format!("ctl status printed no JSON ({e}): {:?}", out.stdout))?;
        self.remember_children(&v);
        Ok(v)
    }

    /// `ctl status`, parsed. Panics when it fails.
    pub fn ctl_status(&self) -> serde_json::Value {
        match self.try_ctl_status() {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    fn remember_children(&self, status: &serde_json::Value) {
        let mut pids: Vec<u64> = Vec::new();
        if let Some(p) = status.pointer("/host/pid").and_then(|p| p.as_u64()) {
            pids.push(p);
        }
        if let Some(ws) = status.get("workers").and_then(|w| w.as_array()) {
            pids.extend(
                ws.iter()
                    .filter_map(|w| w.get("pid").and_then(|p| p.as_u64())),
            );
        }
        let mut seen = self.children_seen.lock().unwrap_or_else(|e| e.into_inner());
        for pid in pids {
            let Ok(pid) = u32::try_from(pid) else {
                continue;
            };
            if pid == self.pid || seen.iter().any(|&(p, _)| p == pid) {
                continue;
            }
            // Only processes that really are ours: children of the supervisor.
            if let Some(st) = proc_stat(pid) {
                if st.ppid == self.pid {
                    seen.push((pid, st.starttime));
                }
            }
        }
    }

    /// Runs `ctl screendump` into a PPM file in the server's directory and
    /// decodes it.
    pub fn try_screendump(&self) -> Result<Image, String> {
        self.try_screendump_of(0)
    }

    /// Like [`Server::try_screendump`], for display `display`.
    pub fn try_screendump_of(&self, display: u8) -> Result<Image, String> {
        let n = self.dumps.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("screendump-{n}.ppm"));
        let path_str = path.to_str().ok_or("temp path is not UTF-8")?;
        let display = display.to_string();
        let out = self.ctl(&["screendump", "--display", &display, path_str])?;
        if !out.success() {
            return Err(format!("ctl screendump failed: {}", out.describe()));
        }
        Image::read_ppm(&path)
    }

    /// Like [`Server::try_screendump`], retried for up to 10 s (a server
    /// that just started may have no picture yet); panics on failure.
    pub fn screendump(&self) -> Image {
        self.screendump_of(0)
    }

    /// Like [`Server::screendump`], for display `display`.
    pub fn screendump_of(&self, display: u8) -> Image {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.try_screendump_of(display) {
                Ok(i) => return i,
                Err(e) if Instant::now() >= deadline => panic!("{e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The server's stderr so far (lossy UTF-8, colour codes removed).
    pub fn log_text(&self) -> String {
        let raw = std::fs::read(&self.log_path).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&raw))
    }

    /// Log lines that contain `needle`.
    pub fn log_lines_with(&self, needle: &str) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Polls the log (every 50 ms, at most `timeout`) until some line
    /// contains every one of `needles`; returns the matching lines.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines: Vec<String> = self
                .log_text()
                .lines()
                .filter(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_owned)
                .collect();
            if !lines.is_empty() || Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True while the supervisor process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            send_signal(self.pid, Signal::SIGTERM);
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!(
                    "spicebox (pid {}) ignored SIGTERM for {STOP_GRACE:?}; sending SIGKILL",
                    self.pid
                );
                let _ = child.kill();
            }
        }
        let _ = child.wait();

        // Children the supervisor should have taken down with it.
        let seen =
            std::mem::take(&mut *self.children_seen.lock().unwrap_or_else(|e| e.into_inner()));
        let still = |pid: u32, start: u64| proc_stat(pid).is_some_and(|s| s.starttime == start);
        let deadline = Instant::now() + Duration::from_secs(2);
        while seen.iter().any(|&(p, s)| still(p, s)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for (pid, start) in seen {
            if still(pid, start) && pid_alive(pid) {
                eprintln!("spicebox left process {pid} running after it stopped; killing it");
                send_signal(pid, Signal::SIGKILL);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            self.dir.keep();
            eprintln!(
                "--- spicebox log tail ({}; directory kept) ---\n{}\n--- end of log ---",
                self.log_path.display(),
                tail(&self.log_text(), 8000)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Log checks

/// True when `line` holds `peer=ADDR` for exactly this address (so that
/// port 4000 does not match port 40001).
pub fn line_mentions_peer(line: &str, peer: SocketAddr) -> bool {
    let needle = format!("peer={peer}");
    let quoted = format!("peer=\"{peer}\"");
    line.match_indices(&needle).any(|(i, m)| {
        !line[i + m.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    }) || line.contains(&quoted)
}

/// True when the line's level field is WARN (tracing's fmt layout).
pub fn is_warn_line(line: &str) -> bool {
    line.split_whitespace().take(2).any(|w| w == "WARN")
}

impl Server {
    /// Waits (at most `timeout`) for the refusal of `peer` to be logged and
    /// checks the project rule "every refused connection logs one WARN line
    /// with `peer=` and `reason=`": at least one line with the peer has
    /// `reason=`, and exactly one WARN line mentions the peer. Returns that
    /// line; panics with the log's lines for the peer otherwise.
    pub fn expect_refusal_logged(&self, peer: SocketAddr, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let peer_lines = || -> Vec<String> {
            self.log_text()
                .lines()
                .filter(|l| line_mentions_peer(l, peer))
                .map(str::to_owned)
                .collect()
        };
        let mut lines = peer_lines();
        while !lines
            .iter()
            .any(|l| is_warn_line(l) && l.contains("reason="))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
            lines = peer_lines();
        }
        // Give a duplicate a moment to show up before counting.
        std::thread::sleep(Duration::from_millis(300));
        lines = peer_lines();
        let warns: Vec<&String> = lines.iter().filter(|l| is_warn_line(l)).collect();
        let refusal = warns.iter().find(|l| l.contains("reason="));
        match (refusal, warns.len()) {
            (Some(line), 1) => (*line).clone(),
            _ => panic!(
                "expected exactly one WARN line with peer={peer} and reason=...; \
                 lines mentioning the peer:\n{}",
                if lines.is_empty() {
                    "(none)".to_string()
                } else {
                    lines.join("\n")
                }
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// The demo host's input log

/// The JSON lines file written by `--demo-input-log`.
#[derive(Debug, Clone)]
pub struct InputLog {
    path: PathBuf,
}

impl InputLog {
    /// A log at `path` (it need not exist yet).
    pub fn new(path: PathBuf) -> InputLog {
        InputLog { path }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every complete line parsed as JSON (a line that is not JSON is an
    /// error naming it).
    pub fn events(&self) -> Result<Vec<serde_json::Value>, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", self.path.display())),
        };
        // A last line without a newline may still be being written.
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| format!("input log line {l:?}: {e}")))
            .collect()
    }

    /// Polls (every 50 ms, at most `timeout`) until `pred` holds for the
    /// events; returns the last events read either way.
    pub fn wait_until(
        &self,
        timeout: Duration,
        pred: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Result<Vec<serde_json::Value>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let ev = self.events()?;
            if pred(&ev) || Instant::now() >= deadline {
                return Ok(ev);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// True when `event` has every field of `expected` with the same value
/// (extra fields in `event` are allowed).
pub fn event_matches(event: &serde_json::Value, expected: &serde_json::Value) -> bool {
    match (event.as_object(), expected.as_object()) {
        (Some(e), Some(x)) => x.iter().all(|(k, v)| e.get(k) == Some(v)),
        _ => event == expected,
    }
}

// ---------------------------------------------------------------------------
// spicy-screenshot

/// The `spicy-screenshot` program: `SPICY_SCREENSHOT` if set, else found on PATH.
pub fn spicy_screenshot_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SPICY_SCREENSHOT") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("spicy-screenshot"))
        .find(|p| p.is_file())
}

/// Takes a screenshot with Debian's `spicy-screenshot` (spice-client-gtk):
/// `spicy-screenshot -h 127.0.0.1 -p PORT -o FILE [-w PASSWORD]`, killed by
/// PID after [`SCREENSHOT_TIMEOUT`]. Returns the decoded picture, or an error
/// that includes the program's stderr.
pub fn spicy_screenshot(port: u16, password: Option<&str>) -> Result<Image, String> {
    let Some(bin) = spicy_screenshot_bin() else {
        return Err(
            "spicy-screenshot not found on PATH: install spice-client-gtk \
                    (scripts/test.sh does it)"
                .into(),
        );
    };
    let dir = TempDir::new("spicy-shot").map_err(|e| format!("temp dir: {e}"))?;
    let out_path = dir.path().join("shot.ppm");
    let mut cmd = Command::new(&bin);
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-o"])
        .arg(&out_path);
    if let Some(pw) = password {
        cmd.args(["-w", pw]);
    }
    // Headless: it needs no display; keep it from trying one.
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    let out = run_with_timeout(&mut cmd, SCREENSHOT_TIMEOUT)
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    if !out.success() {
        return Err(format!("spicy-screenshot failed: {}", out.describe()));
    }
    if !out_path.is_file() {
        return Err(format!(
            "spicy-screenshot exited 0 but wrote no picture: {}",
            out.describe()
        ));
    }
    Image::read_ppm(&out_path).map_err(|e| format!("{e}; spicy-screenshot: {}", out.describe()))
}

// ---------------------------------------------------------------------------
// Worker supervision

/// The entry of `role` ("display", "inputs") in a `ctl status` document.
pub fn worker_entry<'a>(
    status: &'a serde_json::Value,
    role: &str,
) -> Option<&'a serde_json::Value> {
    status
        .get("workers")?
        .as_array()?
        .iter()
        .find(|w| w.get("role").and_then(|r| r.as_str()) == Some(role))
}

/// The `pid` of a worker entry (0 when it has none).
pub fn worker_entry_pid(worker: &serde_json::Value) -> u32 {
    worker
        .get("pid")
        .and_then(|p| p.as_u64())
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0)
}

/// The `phase` of a worker entry ("" when missing).
pub fn worker_entry_phase(worker: &serde_json::Value) -> &str {
    worker.get("phase").and_then(|p| p.as_str()).unwrap_or("")
}

/// The `history` events of a worker entry.
pub fn worker_history(worker: &serde_json::Value) -> Vec<serde_json::Value> {
    worker
        .get("history")
        .and_then(|h| h.as_array())
        .cloned()
        .unwrap_or_default()
}

/// Every process whose parent is `parent` (from /proc/*/stat), with its stat.
pub fn children_of(parent: u32) -> Vec<(u32, ProcStat)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, proc_stat(pid)?)))
        .filter(|(_, st)| st.ppid == parent)
        .collect()
}

/// Children of `parent` in state Z (zombies), polled for at most `settle`
/// until there are none; returns the zombies still there at the end.
pub fn wait_no_zombie_children(parent: u32, settle: Duration) -> Vec<u32> {
    let deadline = Instant::now() + settle;
    loop {
        let zombies: Vec<u32> = children_of(parent)
            .into_iter()
            .filter(|(_, st)| st.state == 'Z')
            .map(|(pid, _)| pid)
            .collect();
        if zombies.is_empty() || Instant::now() >= deadline {
            return zombies;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `sig` to `pid`, but only when `pid` is a live child of `parent`
/// (so a test never signals a process it did not start). Returns why not
/// otherwise.
pub fn signal_child(parent: u32, pid: u32, sig: Signal) -> Result<(), String> {
    match proc_stat(pid) {
        None => Err(format!("pid {pid} does not exist")),
        Some(st) if st.ppid != parent => Err(format!(
            "pid {pid} is a child of {}, not of {parent}; not signalling it",
            st.ppid
        )),
        Some(st) if st.state == 'Z' => Err(format!("pid {pid} is already a zombie")),
        Some(_) => {
            if send_signal(pid, sig) {
                Ok(())
            } else {
                Err(format!("kill({pid}, {sig:?}) failed"))
            }
        }
    }
}

impl Server {
    /// The `ctl status` entry of worker `role`; panics when there is none.
    pub fn worker_status(&self, role: &str) -> serde_json::Value {
        let status = self.ctl_status();
        match worker_entry(&status, role) {
            Some(w) => w.clone(),
            None => panic!("ctl status has no {role} worker: {status}"),
        }
    }

    /// Polls `ctl status` (every 50 ms, at most `timeout`) until `pred`
    /// holds for the entry of worker `role`; returns that entry, or the last
    /// status seen as the error.
    pub fn wait_worker(
        &self,
        role: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.try_ctl_status() {
                Ok(status) => match worker_entry(&status, role) {
                    Some(w) if pred(w) => return Ok(w.clone()),
                    Some(w) => w.to_string(),
                    None => format!("no {role} worker in {status}"),
                },
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "{role} worker: condition not met within {timeout:?}; last seen: {last}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The pid of worker `role` once it is "running" (waits at most
    /// `timeout`), checked to be a live child of the supervisor.
    pub fn running_worker_pid(&self, role: &str, timeout: Duration) -> u32 {
        let w = self
            .wait_worker(role, timeout, |w| {
                worker_entry_phase(w) == "running" && pid_alive(worker_entry_pid(w))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let pid = worker_entry_pid(&w);
        let st = proc_stat(pid).unwrap_or_else(|| panic!("{role} worker {pid} vanished"));
        assert_eq!(
            st.ppid, self.pid,
            "{role} worker {pid} is not a child of the supervisor {}",
            self.pid
        );
        pid
    }

    /// Waits (at most `timeout`) until worker `role` runs as a process other
    /// than `old_pid`; returns its entry. Panics with the last status
    /// otherwise.
    pub fn wait_worker_replaced(
        &self,
        role: &str,
        old_pid: u32,
        timeout: Duration,
    ) -> serde_json::Value {
        self.wait_worker(role, timeout, |w| {
            let pid = worker_entry_pid(w);
            worker_entry_phase(w) == "running" && pid != 0 && pid != old_pid && pid_alive(pid)
        })
        .unwrap_or_else(|e| panic!("the {role} worker (pid {old_pid}) was not replaced: {e}"))
    }

    /// Sends `sig` to worker process `pid` (only if it is this server's
    /// child); panics otherwise.
    pub fn signal_worker(&self, pid: u32, sig: Signal) {
        if let Err(e) = signal_child(self.pid, pid, sig) {
            panic!("cannot signal worker {pid}: {e}");
        }
    }

    /// Like [`Server::start`], but runs the server binary at `bin` (for
    /// example a copy that the test later removes). `ctl` still uses the
    /// normal binary ([`spicebox_bin`]).
    pub fn start_from(bin: &Path, args: &[&str]) -> Server {
        match Server::start_once(bin, args, &[]) {
            Ok(mut s) => {
                s.bin = spicebox_bin();
                s
            }
            Err((e, _)) => panic!("spicebox ({}) did not start: {e}", bin.display()),
        }
    }

    /// Panics unless the supervisor still runs and, within `settle`, none of
    /// its children is a zombie.
    pub fn assert_healthy(&mut self, context: &str, settle: Duration) {
        assert!(
            self.is_running() && pid_alive(self.pid),
            "{context}: the supervisor (pid {}) is gone",
            self.pid
        );
        let zombies = wait_no_zombie_children(self.pid, settle);
        assert!(
            zombies.is_empty(),
            "{context}: the supervisor (pid {}) left zombie children {zombies:?} \
             (not reaped within {settle:?})",
            self.pid
        );
    }
}

/// (type, peer) of every channel of session `sid` in `ctl status`, plus
/// ("session", main peer), sorted: equal lists mean the same connections.
pub fn session_channels(server: &Server, sid: u32) -> Vec<(String, String)> {
    let status = server.ctl_status();
    let session = status
        .get("sessions")
        .and_then(serde_json::Value::as_array)
        .and_then(|s| {
            s.iter()
                .find(|s| s.get("id").and_then(serde_json::Value::as_u64) == Some(u64::from(sid)))
        })
        .unwrap_or_else(|| panic!("session {sid} is not in ctl status: {status}"));
    let mut v: Vec<(String, String)> = session
        .get("channels")
        .and_then(serde_json::Value::as_array)
        .map(|c| {
            c.iter()
                .map(|c| {
                    (
                        c.get("type")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or("?")
                            .to_owned(),
                        c.get("peer")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or("?")
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.push((
        "session".into(),
        session
            .get("peer")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
            .to_owned(),
    ));
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_matching_respects_port_boundaries() {
        let p: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert!(line_mentions_peer(
            "WARN x: refused peer=127.0.0.1:4000 reason=bad",
            p
        ));
        assert!(line_mentions_peer("refused peer=127.0.0.1:4000", p));
        assert!(!line_mentions_peer(
            "refused peer=127.0.0.1:40001 reason=bad",
            p
        ));
        assert!(line_mentions_peer("refused peer=\"127.0.0.1:4000\"", p));
        assert!(is_warn_line(
            "2025-01-01T00:00:00.000Z  WARN spicebox::link: refused"
        ));
        assert!(!is_warn_line(
            "2025-01-01T00:00:00.000Z  INFO spicebox: WARN later"
        ));
    }

    #[test]
    fn event_subset_matching() {
        let e =
            serde_json::json!({"session": 1, "event": "key", "code": 30, "pressed": true, "t": 5});
        assert!(event_matches(
            &e,
            &serde_json::json!({"event": "key", "code": 30})
        ));
        assert!(!event_matches(
            &e,
            &serde_json::json!({"event": "key", "code": 31})
        ));
        assert!(!event_matches(&e, &serde_json::json!({"missing": 1})));
    }

    #[test]
    fn strip_ansi_removes_styles() {
        let s = "\u{1b}[2m2024\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m \u{1b}[3mpeer\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:5";
        assert_eq!(strip_ansi(s), "2024  WARN peer=127.0.0.1:5");
    }

    #[test]
    fn run_with_timeout_kills_and_reports() {
        let out = run_with_timeout(Command::new("sleep").arg("30"), Duration::from_millis(300))
            .expect("sleep runs");
        assert!(out.status.is_none());
        assert!(out.elapsed < Duration::from_secs(10));
        let out = run_with_timeout(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .expect("sh runs");
        assert_eq!(out.status.and_then(|s| s.code()), Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    fn proc_stat_of_self() {
        let me = proc_stat(std::process::id()).expect("own /proc entry");
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert!(pid_alive(std::process::id()));
    }

    #[test]
    fn loopback_listening_sees_a_listener() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if let Some(seen) = loopback_listening(port) {
            assert!(seen);
            drop(l);
            // A process forked by a parallel test may hold the socket until
            // its exec: allow a moment.
            let deadline = Instant::now() + Duration::from_secs(5);
            while loopback_listening(port) == Some(true) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(loopback_listening(port), Some(false));
        }
    }
}
