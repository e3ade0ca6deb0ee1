//! Peer-to-peer mode (`-display dbus,p2p=yes`): QEMU joins no bus, and a
//! display client gets a D-Bus connection of its own by handing QEMU one
//! end of a socket pair over QMP — `getfd` with the descriptor attached
//! (SCM_RIGHTS), then `add_client` with protocol `@dbus-display` — the
//! way libvirt serves `virDomainOpenGraphicsFD`.
//!
//! QEMU authenticates the new connection (it is the D-Bus server of it)
//! inside the `add_client` handler, on its main thread: our side of that
//! handshake runs as its own task, started before `add_client` is sent,
//! or both sides would wait for each other. The QMP connection is closed
//! as soon as the display connection is up: QEMU serves one client per
//! QMP socket at a time, and others (libvirt, an operator) may need it.
//!
//! No audio listener is registered in this mode: QEMU 7.2 crashes when
//! one registers on a peer-to-peer connection.

use std::future::Future;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::Path;
use std::time::Duration;

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use zbus::connection::socket::{ReadHalf as _, WriteHalf as _};
use zbus::Connection;

use super::error::QemuError;
use super::session::CALL_TIMEOUT;

/// How long each QMP step (connect, greeting, one command) and the D-Bus
/// handshake may take. QEMU answers in milliseconds; a QMP socket held by
/// another client never answers (QEMU queues the second client).
const QMP_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest QMP line read; QEMU's answers to these commands are short.
const MAX_LINE: usize = 64 * 1024;
/// Lines skipped (events) while waiting for one answer.
const MAX_SKIPPED: usize = 64;
/// The name the descriptor gets in QEMU between `getfd` and `add_client`.
const FD_NAME: &str = "spicebox-dbus-display";

/// Opens a peer-to-peer D-Bus connection to the display of the QEMU
/// whose QMP socket is at `path`.
pub(crate) async fn open_display(path: &Path) -> Result<Connection, QemuError> {
    let socket_error = |source| QemuError::QmpSocket {
        path: path.to_path_buf(),
        source,
    };
    let stream = within("connecting", UnixStream::connect(path))
        .await?
        .map_err(socket_error)?;
    let (read, write) = stream.into_split();
    let mut qmp = Qmp {
        read,
        write,
        buffer: Vec::new(),
    };
    let greeting = within("the QMP greeting", qmp.line()).await??;
    if !top_level_keys(&greeting).iter().any(|k| k == "QMP") {
        return Err(QemuError::Qmp(format!(
            "not a QMP greeting: {}",
            printable(&greeting)
        )));
    }
    qmp.execute(r#"{"execute":"qmp_capabilities"}"#, None)
        .await?;

    let (ours, theirs) = StdUnixStream::pair().map_err(QemuError::Socket)?;
    let getfd = format!(r#"{{"execute":"getfd","arguments":{{"fdname":"{FD_NAME}"}}}}"#);
    qmp.execute(&getfd, Some(theirs.as_fd())).await?;
    // QEMU holds its own copy now.
    drop(theirs);

    let mut handshake = tokio::spawn(authenticate(ours));
    let add_client = format!(
        r#"{{"execute":"add_client","arguments":{{"protocol":"@dbus-display","fdname":"{FD_NAME}"}}}}"#
    );
    if let Err(e) = qmp.execute(&add_client, None).await {
        handshake.abort();
        return Err(e);
    }
    drop(qmp);
    match tokio::time::timeout(QMP_TIMEOUT, &mut handshake).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(QemuError::Qmp(format!(
            "the D-Bus handshake task failed: {e}"
        ))),
        Err(_) => {
            handshake.abort();
            Err(QemuError::Qmp(format!(
                "QEMU did not complete the D-Bus handshake within {QMP_TIMEOUT:?}"
            )))
        }
    }
}

/// Our side of the new connection: the client, with no bus behind it.
async fn authenticate(ours: StdUnixStream) -> Result<Connection, QemuError> {
    let stream = ours
        .set_nonblocking(true)
        .and_then(|()| UnixStream::from_std(ours))
        .map_err(QemuError::Socket)?;
    Ok(zbus::connection::Builder::unix_stream(stream)
        .p2p()
        .method_timeout(CALL_TIMEOUT)
        .build()
        .await?)
}

/// `step` within [`QMP_TIMEOUT`].
async fn within<T>(step: &str, step_future: impl Future<Output = T>) -> Result<T, QemuError> {
    tokio::time::timeout(QMP_TIMEOUT, step_future)
        .await
        .map_err(|_| {
            QemuError::Qmp(format!(
                "no answer within {QMP_TIMEOUT:?} ({step}); is another client using this QMP socket? \
                 QEMU serves one at a time"
            ))
        })
}

/// One QMP session.
struct Qmp {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    /// Bytes read past the last line.
    buffer: Vec<u8>,
}

impl Qmp {
    /// Sends `command` (with `fd` attached) and waits for its answer.
    async fn execute(
        &mut self,
        command: &str,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<(), QemuError> {
        let name = command_name(command);
        within(name, async {
            self.send(command, fd).await?;
            for _ in 0..MAX_SKIPPED {
                let line = self.line().await?;
                let keys = top_level_keys(&line);
                if keys.iter().any(|k| k == "return") {
                    return Ok(());
                }
                if keys.iter().any(|k| k == "error") {
                    return Err(QemuError::Qmp(format!(
                        "{name} refused: {}",
                        printable(&line)
                    )));
                }
                // An event (or a stray line): not our answer.
            }
            Err(QemuError::Qmp(format!(
                "no answer to {name} among {MAX_SKIPPED} lines"
            )))
        })
        .await?
    }

    async fn send(&mut self, command: &str, fd: Option<BorrowedFd<'_>>) -> Result<(), QemuError> {
        let mut bytes = command.as_bytes().to_vec();
        bytes.push(b'\n');
        let mut sent = 0;
        let mut fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
        while sent < bytes.len() {
            let n = self
                .write
                .sendmsg(&bytes[sent..], &fds)
                .await
                .map_err(|e| QemuError::Qmp(format!("writing to QMP: {e}")))?;
            if n == 0 {
                return Err(QemuError::Qmp("QMP socket closed while writing".into()));
            }
            sent += n;
            // The descriptor went with the first bytes.
            fds.clear();
        }
        Ok(())
    }

    /// The next line (without its end), at most [`MAX_LINE`] bytes.
    async fn line(&mut self) -> Result<String, QemuError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            if self.buffer.len() > MAX_LINE {
                return Err(QemuError::Qmp(format!(
                    "a QMP line longer than {MAX_LINE} bytes"
                )));
            }
            let mut chunk = [0u8; 4096];
            // Descriptors QEMU might attach are closed when dropped.
            let (n, _fds) = self
                .read
                .recvmsg(&mut chunk)
                .await
                .map_err(|e| QemuError::Qmp(format!("reading from QMP: {e}")))?;
            if n == 0 {
                return Err(QemuError::Qmp("QEMU closed the QMP socket".into()));
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The `execute` value of a command this module writes, for messages.
fn command_name(command: &str) -> &str {
    command
        .split('"')
        .nth(3)
        .filter(|name| !name.is_empty())
        .unwrap_or("a QMP command")
}

/// The keys of the top-level object of one JSON text (QMP sends one a
/// line): enough to tell an answer (`return`, `error`) from an event or
/// the greeting (`QMP`) without a JSON parser.
fn top_level_keys(line: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut expect_key = false;
    let mut current = String::new();
    for c in line.chars() {
        if in_string {
            if escaped {
                escaped = false;
                current.push(c);
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                if depth == 1 && expect_key {
                    keys.push(std::mem::take(&mut current));
                    expect_key = false;
                }
            } else {
                current.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                current.clear();
            }
            '{' | '[' => {
                depth += 1;
                expect_key = depth == 1 && c == '{';
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expect_key = true,
            _ => {}
        }
    }
    keys
}

/// A line from QEMU as it may go into an error message: printable, short.
fn printable(line: &str) -> String {
    line.chars()
        .take(300)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_events_and_the_greeting_are_told_apart() {
        let greeting = r#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}"#;
        assert_eq!(top_level_keys(greeting), ["QMP"]);
        assert_eq!(top_level_keys(r#"{"return": {}}"#), ["return"]);
        let error =
            r#"{"error": {"class": "GenericError", "desc": "No file descriptor named x found"}}"#;
        assert_eq!(top_level_keys(error), ["error"]);
        let event = r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME", "data": {"return": 1}}"#;
        assert_eq!(top_level_keys(event), ["timestamp", "event", "data"]);
        // Keys inside strings, escapes, nesting and garbage do not confuse it.
        assert_eq!(
            top_level_keys(r#"{"a\"return": "{\"error\": 1}", "b": [{"return": 2}]}"#),
            ["a\"return", "b"]
        );
        assert!(top_level_keys("not json at all").is_empty());
        assert!(top_level_keys("").is_empty());
    }

    #[test]
    fn commands_are_named_in_messages() {
        assert_eq!(
            command_name(r#"{"execute":"getfd","arguments":{}}"#),
            "getfd"
        );
        assert_eq!(command_name("garbage"), "a QMP command");
        assert_eq!(printable("a\u{1b}[31mb"), "a?[31mb");
    }
}
