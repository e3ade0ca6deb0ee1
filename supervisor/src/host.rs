//! The host process (the demo desktop, an X display's capture, or a QEMU
//! VM's D-Bus display):
//! spawning it with the shared framebuffer and doorbell, feeding it input,
//! and relaying what it reports.
//!
//! Audio the host relays (QEMU's `-audiodev dbus`) is kept here per stream
//! and shown in `ctl status`. Until the playback channel exists, its PCM
//! bytes are counted and dropped on arrival: nothing is buffered.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;

use serde::Serialize;
use spicebox_ipc::{
    ChardevInfo, FromHost, PcmFormat, ToHost, MAX_AUDIO_CHANNELS, MAX_AUDIO_CHUNK, MAX_CHARDEVS,
    MAX_CHARDEV_NAME,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::children::{display_fds, spawn_self, IPC_FD};
use crate::cli::{OnHostExit, ServeArgs, Source};
use crate::workers::Worker;

/// How long a host whose link was closed may take to exit before it is
/// killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// A running host process.
pub struct Host {
    pub pid: u32,
    /// Cancelled to close the link: the host then exits by itself.
    close: CancellationToken,
    /// Filled in once the host has exited.
    exited: Mutex<Option<oneshot::Receiver<()>>>,
    /// The audio output streams the host relays.
    audio: Arc<Mutex<AudioOut>>,
    /// The machine's byte-stream ports, as the host last listed them.
    chardevs: Arc<Mutex<Vec<ChardevStatus>>>,
}

/// Resolves with the host's reason when its machine went away and
/// `--on-host-exit end` asks the server to end with it; never otherwise.
pub struct MachineGone(oneshot::Receiver<String>);

impl MachineGone {
    pub async fn wait(self) -> String {
        match self.0.await {
            Ok(reason) => reason,
            // The host ended without its machine going: nothing to end.
            Err(_) => std::future::pending().await,
        }
    }
}

impl Host {
    /// Starts the host for `args.source` with each display's region and
    /// doorbell, in display order. `input` carries what the inputs worker
    /// produced.
    pub fn start(
        args: &ServeArgs,
        displays: Vec<(OwnedFd, OwnedFd)>,
        mut input: mpsc::Receiver<ToHost>,
        inputs_worker: Arc<Worker>,
    ) -> anyhow::Result<(Host, MachineGone)> {
        let (ours, theirs) = spicebox_ipc::socket_pair()?;
        let cli = command_line(args)?;
        let mut fds = vec![(theirs, IPC_FD)];
        for (index, (shm, doorbell)) in displays.into_iter().enumerate() {
            let (shm_at, doorbell_at) = display_fds(index);
            fds.push((shm, shm_at));
            fds.push((doorbell, doorbell_at));
        }
        let mut child = spawn_self(&cli, fds)?;
        let pid = child.id().unwrap_or(0);
        tracing::info!(pid, source = %args.source.name(), "host started");
        let (mut tx, mut rx) = spicebox_ipc::split_async::<ToHost, FromHost>(ours)?;
        let close = CancellationToken::new();
        let (gone_tx, gone_rx) = oneshot::channel();
        let (exited_tx, exited_rx) = oneshot::channel();
        let on_host_exit = args.on_host_exit;
        let audio = Arc::new(Mutex::new(AudioOut::default()));
        let streams = audio.clone();
        let chardevs = Arc::new(Mutex::new(Vec::new()));
        let ports = chardevs.clone();

        let closing = close.clone();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    msg = input.recv() => msg,
                    _ = closing.cancelled() => break,
                };
                let Some(msg) = msg else { break };
                if let Err(error) = tx.send(&msg).await {
                    tracing::warn!(%error, "cannot write to host");
                    break;
                }
            }
        });
        let closing = close.clone();
        tokio::spawn(async move {
            let mut gone_tx = Some(gone_tx);
            loop {
                let msg = tokio::select! {
                    msg = rx.recv() => msg,
                    _ = closing.cancelled() => break,
                };
                match msg {
                    Ok(FromHost::Leds { modifiers }) => inputs_worker.host_leds(modifiers).await,
                    Ok(FromHost::MachineGone { reason }) => {
                        // Its streams went with it (the host also says so
                        // stream by stream, in whatever order).
                        lock_audio(&streams).streams.clear();
                        lock_ports(&ports).clear();
                        machine_gone(&reason, on_host_exit, &mut gone_tx);
                    }
                    Ok(FromHost::Chardevs { chardevs }) => set_chardevs(&ports, chardevs),
                    Ok(FromHost::ChardevGuestOpen { name, open }) => {
                        guest_open(&ports, &name, open)
                    }
                    Ok(audio_msg) => lock_audio(&streams).apply(audio_msg),
                    Err(spicebox_ipc::IpcError::Closed) => break,
                    Err(error) => {
                        tracing::error!(%error, "host sent a bad message; stopping it");
                        let _ = child.start_kill();
                        break;
                    }
                }
            }
            // Both halves gone: the host reads the end of its link.
            drop(rx);
            let on_purpose = closing.is_cancelled();
            let status = match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    tracing::warn!(
                        pid,
                        "the host did not exit within {EXIT_GRACE:?}; killing it"
                    );
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            match status {
                Ok(status) if on_purpose && status.success() => {
                    tracing::info!(pid, %status, "host exited")
                }
                Ok(status) => tracing::error!(pid, %status, "host exited"),
                Err(error) => tracing::error!(pid, %error, "host lost"),
            }
            let _ = exited_tx.send(());
        });
        let host = Host {
            pid,
            close,
            exited: Mutex::new(Some(exited_rx)),
            audio,
            chardevs,
        };
        Ok((host, MachineGone(gone_rx)))
    }

    /// Closes the host's link and waits until it has exited (it is killed
    /// after [`EXIT_GRACE`]).
    pub async fn stop(&self) {
        self.close.cancel();
        let exited = self
            .exited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(exited) = exited {
            let _ = exited.await;
        }
    }
}

impl Host {
    /// The audio streams as `ctl status` shows them.
    pub fn audio_status(&self) -> AudioStatus {
        lock_audio(&self.audio).status()
    }

    /// The machine's ports as `ctl status` shows them.
    pub fn chardev_status(&self) -> Vec<ChardevStatus> {
        lock_ports(&self.chardevs).clone()
    }
}

/// A byte-stream port of the machine (`-chardev dbus`), for `ctl status`.
/// Nothing connects to it until the channel that carries it exists.
#[derive(Clone, Serialize)]
pub struct ChardevStatus {
    name: String,
    guest_open: bool,
}

/// The host's new list of ports; a list that breaks the bounds is
/// ignored whole.
fn set_chardevs(ports: &Mutex<Vec<ChardevStatus>>, list: Vec<ChardevInfo>) {
    if list.len() > MAX_CHARDEVS || list.iter().any(|c| c.name.len() > MAX_CHARDEV_NAME) {
        tracing::warn!(
            count = list.len(),
            "the host listed chardevs beyond the bounds; ignoring the list"
        );
        return;
    }
    *lock_ports(ports) = list
        .into_iter()
        .map(|c| ChardevStatus {
            name: c.name,
            guest_open: c.guest_open,
        })
        .collect();
}

/// The guest side of port `name` opened or closed.
fn guest_open(ports: &Mutex<Vec<ChardevStatus>>, name: &str, open: bool) {
    match lock_ports(ports).iter_mut().find(|c| c.name == name) {
        Some(port) => {
            tracing::info!(chardev = %name, open, "the guest side of a chardev changed");
            port.guest_open = open;
        }
        None => tracing::debug!(chardev = %name, "the host reported a chardev it did not list"),
    }
}

fn lock_ports(ports: &Mutex<Vec<ChardevStatus>>) -> std::sync::MutexGuard<'_, Vec<ChardevStatus>> {
    ports.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the host said about its machine going away.
fn machine_gone(
    reason: &str,
    on_host_exit: OnHostExit,
    gone_tx: &mut Option<oneshot::Sender<String>>,
) {
    match on_host_exit {
        OnHostExit::End => {
            if let Some(gone) = gone_tx.take() {
                let _ = gone.send(reason.to_string());
            }
        }
        OnHostExit::Wait => {
            tracing::info!(%reason, "the served machine is gone; clients wait for it to come back (--on-host-exit wait)")
        }
    }
}

/// Streams kept at most: the host bounds them too; a host that sends
/// more is broken and its extra streams are ignored.
const MAX_AUDIO_STREAMS: usize = 16;

/// The machine's audio output streams, by the host's stream id.
#[derive(Default)]
struct AudioOut {
    streams: BTreeMap<u64, OutStream>,
    /// Messages that did not fit (unknown stream, bad sizes), to warn once.
    rejected: u64,
}

/// One output stream as the host described it.
#[derive(Clone, Serialize)]
pub struct OutStream {
    stream: u64,
    format: FormatStatus,
    enabled: bool,
    mute: bool,
    volume: Vec<u8>,
    /// PCM bytes received (and dropped until the playback channel exists).
    bytes: u64,
    chunks: u64,
}

/// A [`PcmFormat`] for `ctl status`.
#[derive(Clone, Serialize)]
pub struct FormatStatus {
    bits: u8,
    signed: bool,
    float: bool,
    big_endian: bool,
    frequency: u32,
    channels: u8,
    bytes_per_frame: u32,
    bytes_per_second: u32,
}

impl From<PcmFormat> for FormatStatus {
    fn from(f: PcmFormat) -> Self {
        FormatStatus {
            bits: f.bits,
            signed: f.signed,
            float: f.float,
            big_endian: f.big_endian,
            frequency: f.frequency,
            channels: f.channels,
            bytes_per_frame: f.bytes_per_frame,
            bytes_per_second: f.bytes_per_second,
        }
    }
}

/// The `audio` key of `ctl status`.
#[derive(Serialize)]
pub struct AudioStatus {
    playback: Vec<OutStream>,
    /// Audio messages from the host that were ignored.
    rejected: u64,
}

impl AudioOut {
    /// Applies one audio message from the host; the host validated it,
    /// but a message that does not fit is ignored here, not trusted.
    fn apply(&mut self, msg: FromHost) {
        let fits = match msg {
            FromHost::AudioOutOpened { stream, format } => {
                let room =
                    self.streams.contains_key(&stream) || self.streams.len() < MAX_AUDIO_STREAMS;
                if room && format.bytes_per_frame > 0 {
                    tracing::info!(stream, ?format, "audio output stream opened");
                    self.streams.insert(
                        stream,
                        OutStream {
                            stream,
                            format: format.into(),
                            enabled: false,
                            mute: false,
                            volume: Vec::new(),
                            bytes: 0,
                            chunks: 0,
                        },
                    );
                }
                room && format.bytes_per_frame > 0
            }
            FromHost::AudioOutClosed { stream } => {
                if let Some(closed) = self.streams.remove(&stream) {
                    tracing::info!(stream, bytes = closed.bytes, "audio output stream closed");
                }
                // The host closes its streams when the VM's connection
                // ends, which may come after `MachineGone` cleared them.
                true
            }
            FromHost::AudioOutEnabled { stream, enabled } => match self.streams.get_mut(&stream) {
                Some(s) => {
                    s.enabled = enabled;
                    true
                }
                None => false,
            },
            FromHost::AudioOutVolume {
                stream,
                mute,
                volume,
            } => match self.streams.get_mut(&stream) {
                Some(s) if volume.len() <= MAX_AUDIO_CHANNELS => {
                    s.mute = mute;
                    s.volume = volume;
                    true
                }
                _ => false,
            },
            // Counted and dropped: no channel plays it yet.
            FromHost::AudioOutData { stream, pcm } => match self.streams.get_mut(&stream) {
                Some(s)
                    if pcm.len() <= MAX_AUDIO_CHUNK
                        && pcm.len().is_multiple_of(s.format.bytes_per_frame as usize) =>
                {
                    s.bytes += pcm.len() as u64;
                    s.chunks += 1;
                    true
                }
                _ => false,
            },
            // Not audio: handled where they arrive.
            FromHost::Leds { .. }
            | FromHost::MachineGone { .. }
            | FromHost::Chardevs { .. }
            | FromHost::ChardevGuestOpen { .. } => true,
        };
        if !fits {
            if self.rejected == 0 {
                tracing::warn!("the host sent audio that does not fit its streams; ignoring it (further ones are counted in ctl status)");
            }
            self.rejected += 1;
        }
    }

    fn status(&self) -> AudioStatus {
        AudioStatus {
            playback: self.streams.values().cloned().collect(),
            rejected: self.rejected,
        }
    }
}

fn lock_audio(audio: &Mutex<AudioOut>) -> std::sync::MutexGuard<'_, AudioOut> {
    audio.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The host role's arguments for `args.source`.
fn command_line(args: &ServeArgs) -> anyhow::Result<Vec<String>> {
    let mut cli = machine_command_line(args)?;
    if args.displays > 1 {
        if let Source::X11(_) = args.source {
            anyhow::bail!("an X display is one display: --displays must be 1 with --source x11");
        }
        cli.push(format!("--displays={}", args.displays));
    }
    if args.on_host_exit == OnHostExit::End && args.source != Source::Demo {
        cli.push("--ends-on-exit".into());
    }
    Ok(cli)
}

/// The host role and the arguments that name what it serves.
fn machine_command_line(args: &ServeArgs) -> anyhow::Result<Vec<String>> {
    Ok(match &args.source {
        Source::X11(display) => vec!["host".into(), "x11".into(), format!("--display={display}")],
        Source::QemuDbus(address) => {
            let address = match address {
                Some(address) => address.clone(),
                // libvirt (and `dbus-run-session`) name the VM's bus here.
                None => std::env::var("DBUS_SESSION_BUS_ADDRESS")
                    .ok()
                    .filter(|a| !a.is_empty())
                    .context(
                        "--source qemu-dbus without an address needs DBUS_SESSION_BUS_ADDRESS \
                         (or give it: --source qemu-dbus:unix:path=/…/bus.sock)",
                    )?,
            };
            let address = crate::cli::parse_dbus_address(&address)
                .map_err(|e| anyhow::anyhow!("DBUS_SESSION_BUS_ADDRESS: {e}"))?;
            vec![
                "host".into(),
                "qemu-dbus".into(),
                format!("--address={address}"),
            ]
        }
        // The host takes a QMP socket where a bus address could stand.
        Source::QemuQmp(path) => vec![
            "host".into(),
            "qemu-dbus".into(),
            format!(
                "--address={}{}",
                spicebox_vdi::qemu::QMP_PREFIX,
                path.display()
            ),
        ],
        Source::Demo => {
            let (w, h) = args.demo_size;
            let mut cli = vec![
                "host".to_string(),
                "demo".to_string(),
                format!("--size={w}x{h}"),
                format!("--seed={}", args.demo_seed),
            ];
            if args.demo_freeze {
                cli.push("--freeze".into());
            }
            if let Some(scene) = &args.demo_scene {
                cli.push(format!("--scene={scene}"));
            }
            if let Some(log) = &args.demo_input_log {
                cli.push(format!("--input-log={}", log.display()));
            }
            cli
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn pcm16() -> PcmFormat {
        PcmFormat {
            bits: 16,
            signed: true,
            float: false,
            big_endian: false,
            frequency: 44_100,
            channels: 2,
            bytes_per_frame: 4,
            bytes_per_second: 176_400,
        }
    }

    #[test]
    fn audio_streams_are_kept_counted_and_forgotten() {
        let mut audio = AudioOut::default();
        audio.apply(FromHost::AudioOutOpened {
            stream: 9,
            format: pcm16(),
        });
        audio.apply(FromHost::AudioOutEnabled {
            stream: 9,
            enabled: true,
        });
        audio.apply(FromHost::AudioOutVolume {
            stream: 9,
            mute: true,
            volume: vec![1, 2],
        });
        audio.apply(FromHost::AudioOutData {
            stream: 9,
            pcm: vec![0; 4096],
        });
        audio.apply(FromHost::AudioOutData {
            stream: 9,
            pcm: vec![0; 8],
        });
        let status = serde_json::to_value(audio.status()).expect("json");
        let stream = &status["playback"][0];
        assert_eq!(stream["stream"], 9);
        assert_eq!(stream["format"]["frequency"], 44_100);
        assert_eq!(stream["enabled"], true);
        assert_eq!(stream["mute"], true);
        assert_eq!(stream["volume"], serde_json::json!([1, 2]));
        assert_eq!(
            (stream["bytes"].as_u64(), stream["chunks"].as_u64()),
            (Some(4104), Some(2))
        );
        assert_eq!(status["rejected"], 0);

        // Not whole frames, too large, or for no stream: ignored, counted.
        audio.apply(FromHost::AudioOutData {
            stream: 9,
            pcm: vec![0; 6],
        });
        audio.apply(FromHost::AudioOutData {
            stream: 9,
            pcm: vec![0; MAX_AUDIO_CHUNK + 4],
        });
        audio.apply(FromHost::AudioOutEnabled {
            stream: 1,
            enabled: true,
        });
        audio.apply(FromHost::AudioOutClosed { stream: 9 });
        audio.apply(FromHost::AudioOutClosed { stream: 9 });
        let status = serde_json::to_value(audio.status()).expect("json");
        assert_eq!(status["playback"], serde_json::json!([]));
        assert_eq!(status["rejected"], 3);

        for stream in 0..MAX_AUDIO_STREAMS as u64 + 1 {
            audio.apply(FromHost::AudioOutOpened {
                stream,
                format: pcm16(),
            });
        }
        assert_eq!(audio.streams.len(), MAX_AUDIO_STREAMS);
    }

    #[test]
    fn chardevs_are_listed_and_followed() {
        let ports = Mutex::new(Vec::new());
        let info = |name: &str, guest_open| ChardevInfo {
            name: name.into(),
            guest_open,
        };
        set_chardevs(&ports, vec![info("org.spice-space.vdagent.0", false)]);
        guest_open(&ports, "org.spice-space.vdagent.0", true);
        guest_open(&ports, "unlisted", true);
        let status = serde_json::to_value(lock_ports(&ports).clone()).expect("json");
        assert_eq!(
            status,
            serde_json::json!([{ "name": "org.spice-space.vdagent.0", "guest_open": true }])
        );
        // Beyond the bounds: the list stays as it was.
        set_chardevs(&ports, vec![info(&"x".repeat(MAX_CHARDEV_NAME + 1), false)]);
        set_chardevs(&ports, vec![info("p", false); MAX_CHARDEVS + 1]);
        assert_eq!(lock_ports(&ports).len(), 1);
        set_chardevs(&ports, Vec::new());
        assert!(lock_ports(&ports).is_empty());
    }

    #[test]
    fn a_qmp_source_reaches_the_qemu_host_as_its_target() {
        let socket = "/run/vm1/qmp.sock";
        let cli = Cli::try_parse_from(["spicebox", "--source", &format!("qemu-dbus:qmp={socket}")])
            .expect("arguments");
        let host = command_line(&cli.serve).expect("host arguments");
        assert_eq!(host[..2], ["host", "qemu-dbus"]);
        let address = host[2].strip_prefix("--address=").expect("--address");
        assert_eq!(
            spicebox_vdi::qemu::QemuOptions::new(address).target,
            spicebox_vdi::qemu::QemuTarget::Qmp(socket.into())
        );
    }
}
