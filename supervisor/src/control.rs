//! The control socket (`--control PATH`): one JSON request per line, one
//! JSON answer per line; a screendump answer is followed by the raw pixels.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::cli::ImageCompression;
use crate::host::{AudioStatus, ChardevStatus};
use crate::server::Server;
use crate::sessions::SessionStatus;
use crate::workers::WorkerStatus;
use clap::ValueEnum;
use spicebox_ipc::Fault;

/// A request on the control socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Status,
    /// The picture of display `display` (0 when not given).
    Screendump {
        #[serde(default)]
        display: u8,
    },
    RestartWorker {
        role: String,
    },
    SetImageCompression {
        mode: String,
    },
    InjectFault {
        role: String,
    },
}

#[derive(Serialize)]
struct ProcessStatus {
    pid: u32,
}

#[derive(Serialize)]
struct Status {
    supervisor_pid: u32,
    host: ProcessStatus,
    workers: Vec<WorkerStatus>,
    sessions: Vec<SessionStatus>,
    image_compression: &'static str,
    main_rtt_us: u64,
    audio: AudioStatus,
    chardevs: Vec<ChardevStatus>,
}

/// Header line of a screendump answer; `bytes` raw B,G,R,X bytes follow.
#[derive(Debug, Serialize, Deserialize)]
pub struct DumpHeader {
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub bytes: usize,
}

/// Starts serving the control socket at `path`.
pub async fn start(path: &Path, server: Arc<Server>) -> anyhow::Result<()> {
    if path.exists() {
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove stale control socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("cannot open control socket {}", path.display()))?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let server = server.clone();
                    tokio::spawn(async move {
                        if let Err(error) = serve_client(stream, &server).await {
                            tracing::debug!(error = %format!("{error:#}"), "control client");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "control accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}

async fn serve_client(stream: UnixStream, server: &Server) -> anyhow::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r.take(64 * 1024)).lines();
    while let Some(line) = lines.next_line().await? {
        let request: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let answer = serde_json::json!({ "error": format!("bad request: {e}") });
                w.write_all(format!("{answer}\n").as_bytes()).await?;
                continue;
            }
        };
        match request {
            Request::Status => {
                let status = Status {
                    supervisor_pid: std::process::id(),
                    host: ProcessStatus {
                        pid: server.host.pid,
                    },
                    workers: server.workers().map(|w| w.status()).collect(),
                    sessions: server.sessions.status(),
                    image_compression: server
                        .image_compression
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .name(),
                    main_rtt_us: server.last_rtt_us(),
                    audio: server.host.audio_status(),
                    chardevs: server.host.chardev_status(),
                };
                let text = serde_json::to_string(&status)?;
                w.write_all(format!("{text}\n").as_bytes()).await?;
            }
            Request::RestartWorker { role } => {
                let answer = match server.worker_named(&role) {
                    None => serde_json::json!({ "error": format!("no worker role {role:?}") }),
                    Some(w) => match w.restart() {
                        Ok(pid) => serde_json::json!({ "ok": true, "stopped_pid": pid }),
                        Err(e) => serde_json::json!({ "error": e }),
                    },
                };
                w.write_all(format!("{answer}\n").as_bytes()).await?;
            }
            Request::SetImageCompression { mode } => {
                let answer = match ImageCompression::from_str(&mode, false) {
                    Err(_) => {
                        serde_json::json!({ "error": format!("unknown image compression {mode:?}") })
                    }
                    Ok(c) => {
                        *server
                            .image_compression
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = c;
                        let mut failed = None;
                        for display in &server.displays {
                            if let Err(e) = display.set_compression(c.name().to_string()).await {
                                failed = Some(format!("{}: {e}", display.name));
                            }
                        }
                        match failed {
                            None => {
                                serde_json::json!({ "ok": true, "image_compression": c.name() })
                            }
                            Some(e) => serde_json::json!({ "error": e }),
                        }
                    }
                };
                w.write_all(format!("{answer}\n").as_bytes()).await?;
            }
            Request::InjectFault { role } => {
                let answer = if !server.args.test_hooks {
                    serde_json::json!({ "error": "fault injection needs a server started with --test-hooks" })
                } else {
                    match server.worker_named(&role) {
                        None => serde_json::json!({ "error": format!("no worker role {role:?}") }),
                        Some(worker) => match worker.inject(Fault::ForbiddenSyscall).await {
                            Ok(()) => serde_json::json!({ "ok": true }),
                            Err(e) => serde_json::json!({ "error": e.to_string() }),
                        },
                    }
                };
                w.write_all(format!("{answer}\n").as_bytes()).await?;
            }
            Request::Screendump { display } => match dump(server, display).await {
                Ok(frame) => {
                    let header = DumpHeader {
                        width: frame.width,
                        height: frame.height,
                        format: "bgrx".into(),
                        bytes: frame.pixels.len(),
                    };
                    w.write_all(format!("{}\n", serde_json::to_string(&header)?).as_bytes())
                        .await?;
                    w.write_all(&frame.pixels).await?;
                }
                Err(e) => {
                    let answer = serde_json::json!({ "error": e });
                    w.write_all(format!("{answer}\n").as_bytes()).await?;
                }
            },
        }
    }
    Ok(())
}

/// The picture display `index`'s worker holds.
async fn dump(server: &Server, index: u8) -> Result<spicebox_ipc::Frame, String> {
    match server.displays.get(usize::from(index)) {
        Some(worker) => worker.screendump().await,
        None => Err(format!(
            "no display {index} (this server has {})",
            server.displays.len()
        )),
    }
}
