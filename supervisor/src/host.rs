//! The host process (the demo desktop, an X display's capture, or a QEMU
//! VM's D-Bus display):
//! spawning it with the shared framebuffer and doorbell, feeding it input,
//! and relaying what it reports.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use anyhow::Context as _;

use spicebox_ipc::{FromHost, ToHost};
use tokio::sync::mpsc;

use crate::children::{spawn_self, DOORBELL_FD, IPC_FD, SHM_FD};
use crate::cli::{ServeArgs, Source};
use crate::workers::Worker;

/// A running host process.
pub struct Host {
    pub pid: u32,
}

impl Host {
    /// Starts the host for `args.source`. `input` carries what the inputs
    /// worker produced.
    pub fn start(
        args: &ServeArgs,
        shm: OwnedFd,
        doorbell: OwnedFd,
        mut input: mpsc::Receiver<ToHost>,
        inputs_worker: Arc<Worker>,
    ) -> anyhow::Result<Host> {
        let (ours, theirs) = spicebox_ipc::socket_pair()?;
        let cli = command_line(args)?;
        let mut child = spawn_self(
            &cli,
            vec![(theirs, IPC_FD), (shm, SHM_FD), (doorbell, DOORBELL_FD)],
        )?;
        let pid = child.id().unwrap_or(0);
        tracing::info!(pid, source = %args.source.name(), "host started");
        let (mut tx, mut rx) = spicebox_ipc::split_async::<ToHost, FromHost>(ours)?;

        tokio::spawn(async move {
            while let Some(msg) = input.recv().await {
                if let Err(error) = tx.send(&msg).await {
                    tracing::warn!(%error, "cannot write to host");
                    break;
                }
            }
        });
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(FromHost::Leds { modifiers }) => inputs_worker.host_leds(modifiers).await,
                    Err(spicebox_ipc::IpcError::Closed) => break,
                    Err(error) => {
                        tracing::error!(%error, "host sent a bad message; stopping it");
                        let _ = child.start_kill();
                        break;
                    }
                }
            }
            match child.wait().await {
                Ok(status) => tracing::error!(pid, %status, "host exited"),
                Err(error) => tracing::error!(pid, %error, "host lost"),
            }
        });
        Ok(Host { pid })
    }
}

/// The host role's arguments for `args.source`.
fn command_line(args: &ServeArgs) -> anyhow::Result<Vec<String>> {
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
