//! A spicebox that is meant to exit by itself (`--on-host-exit end`):
//! started directly rather than through [`crate::harness::Server`], so
//! that its exit status can be read, and a display channel followed until
//! the server closes it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Channel, ClientError, ClientSurface};
use crate::harness::{free_port, spicebox_bin};

/// spicebox started directly rather than through the harness's
/// [`Server`], so that its exit status can be read: with
/// `--on-host-exit end` it is meant to exit by itself.
pub struct Ending {
    pub child: Child,
    pub port: u16,
    log: PathBuf,
}

/// How long spicebox may take to listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long spicebox may take to end after its machine went away (one
/// second of "gone" picture, then the sessions and the host stop).
pub const END_TIMEOUT: Duration = Duration::from_secs(20);

impl Ending {
    /// `spicebox --source SOURCE --on-host-exit end` (and `more` arguments)
    /// on 127.0.0.1, logging into `dir`; waits until it listens.
    pub fn start(source: &str, more: &[&str], dir: &Path) -> Ending {
        let log = dir.join("spicebox-ending.log");
        let mut last = String::new();
        // A port taken between choosing and binding it: try another.
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(spicebox_bin());
            cmd.args(["--disable-ticketing", "--source", source])
                .args(["--on-host-exit", "end", "--addr", "127.0.0.1"])
                .args(more)
                .args(["--port", &port.to_string()])
                .env_remove("SPICEBOX_LOG")
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"));
            // Dies with the test thread, even if Drop does not run.
            let staged =
                spicebox_sandbox::prepare_child(&mut cmd, Vec::new()).expect("preparing spicebox");
            let child = cmd.spawn().expect("starting spicebox");
            drop(staged);
            let mut ending = Ending {
                child,
                port,
                log: log.clone(),
            };
            let deadline = Instant::now() + START_TIMEOUT;
            while Instant::now() < deadline {
                let text = ending.log_text();
                if text.contains("listening;") {
                    return ending;
                }
                if let Ok(Some(status)) = ending.child.try_wait() {
                    last = format!("spicebox exited during start-up ({status}): {text}");
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if last.is_empty() {
                last = format!("not listening after {START_TIMEOUT:?}");
            }
            if !last.contains("in use") {
                break;
            }
        }
        panic!("spicebox --on-host-exit end did not start: {last}");
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Its exit status, once it has exited within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// After its machine was killed at `killed`: the session's main
    /// channel closes, spicebox exits with status 0 within
    /// [`END_TIMEOUT`], and its log says it ended cleanly. `label` names
    /// the case in messages.
    pub fn assert_ends_with_its_machine(
        &mut self,
        main: &mut Channel,
        killed: Instant,
        label: &str,
    ) {
        main.wait_closed(END_TIMEOUT)
            .unwrap_or_else(|e| panic!("{label}: the main channel: {e}"));
        let status = self.wait_exit(END_TIMEOUT).unwrap_or_else(|| {
            panic!("{label}: spicebox still runs {END_TIMEOUT:?} after its machine died")
        });
        eprintln!(
            "{label}: spicebox exited {:.1} s after its machine was killed ({status})",
            killed.elapsed().as_secs_f64()
        );
        assert!(status.success(), "{label}: spicebox exited with {status}");
        self.assert_ended_cleanly(label);
    }

    /// Checks the log of a spicebox that ended with its machine: the
    /// reason line, a host that exited cleanly, nothing that crashed.
    pub fn assert_ended_cleanly(&self, label: &str) {
        let log = self.log_text();
        let has = |needle: &str| log.lines().any(|l| l.contains(needle));
        assert!(
            has("ending every session and exiting (--on-host-exit end)"),
            "{label}: no line saying why spicebox ends: {log}"
        );
        assert!(
            log.lines()
                .any(|l| l.contains("host exited") && l.contains("exit status: 0")),
            "{label}: the host did not exit with status 0: {log}"
        );
        for bad in ["panicked", "worker died", "host lost", "spicebox: "] {
            assert!(!has(bad), "{label}: {bad:?} in the log: {log}");
        }
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGKILL to this child's PID only.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- spicebox log ---\n{}\n--- end ---", self.log_text());
        }
    }
}

/// Applies display messages to `surface` until the server closes the
/// channel (Ok) or `timeout` passes (Err, with what arrived).
pub fn follow_until_closed(
    display: &mut Channel,
    surface: &mut ClientSurface,
    timeout: Duration,
) -> Result<usize, String> {
    let deadline = Instant::now() + timeout;
    let mut messages = 0usize;
    while Instant::now() < deadline {
        match display.recv(deadline.saturating_duration_since(Instant::now())) {
            Ok((t, body)) => {
                messages += 1;
                surface
                    .apply(t, &body)
                    .map_err(|e| format!("display message {t}: {e}"))?;
            }
            Err(ClientError::Closed) => return Ok(messages),
            Err(ClientError::Timeout(_)) => break,
            Err(e) => return Err(format!("display channel: {e}")),
        }
    }
    Err(format!(
        "the display channel was still open after {timeout:?} ({messages} messages)"
    ))
}
