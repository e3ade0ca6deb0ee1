//! The host process (the demo desktop, an X display's capture, or a QEMU
//! VM's D-Bus display):
//! spawning it with the shared framebuffer and doorbell, feeding it input,
//! and relaying what it reports.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;

use spicebox_ipc::{FromHost, ToHost};
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
                    Ok(FromHost::MachineGone { reason }) => match on_host_exit {
                        OnHostExit::End => {
                            if let Some(gone) = gone_tx.take() {
                                let _ = gone.send(reason);
                            }
                        }
                        OnHostExit::Wait => {
                            tracing::info!(%reason, "the served machine is gone; clients wait for it to come back (--on-host-exit wait)")
                        }
                    },
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
