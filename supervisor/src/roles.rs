//! Entry points of the child roles the supervisor re-executes itself in.
//! Each adopts the descriptors the supervisor placed for it and runs the
//! role's loop from its own crate.

use anyhow::{bail, Context};
use spicebox_ipc::WorkerRole;

use crate::children::{DOORBELL_FD, IPC_FD, SHM_FD};
use crate::cli::{HostArgs, ImageCompression, WorkerArgs};

/// Runs a channel worker.
pub fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let role = WorkerRole::from_name(&args.role)
        .with_context(|| format!("unknown worker role {:?}", args.role))?;
    let ipc = spicebox_sandbox::inherited_fd(IPC_FD).context("no ipc socket")?;
    match role {
        WorkerRole::Display => {
            let shm = spicebox_sandbox::inherited_fd(SHM_FD).context("no shared framebuffer")?;
            let bell = spicebox_sandbox::inherited_fd(DOORBELL_FD).context("no doorbell")?;
            let compression = match args.image_compression {
                ImageCompression::Off => spicebox_display::Compression::Off,
                ImageCompression::Lz4 => spicebox_display::Compression::Lz4,
            };
            let options = spicebox_display::Options {
                compression,
                test_hooks: false,
            };
            spicebox_display::run(ipc, shm, bell, options, || Ok(()))
                .context("display worker failed")
        }
        WorkerRole::Inputs => {
            spicebox_inputs::run(ipc, false, || Ok(())).context("inputs worker failed")
        }
    }
}

/// Runs the host process.
pub fn host(args: HostArgs) -> anyhow::Result<()> {
    if args.kind != "demo" {
        bail!("unknown host kind {:?}", args.kind);
    }
    let ipc = spicebox_sandbox::inherited_fd(IPC_FD).context("no ipc socket")?;
    let shm = spicebox_sandbox::inherited_fd(SHM_FD).context("no shared framebuffer")?;
    let bell = spicebox_sandbox::inherited_fd(DOORBELL_FD).context("no doorbell")?;
    let producer = spicebox_shm::Producer::open(shm).context("cannot map the framebuffer")?;
    let doorbell = spicebox_shm::Doorbell::from_fd(bell);
    let (tx, rx) = spicebox_ipc::split_sync(ipc);
    let opts = spicebox_vdi::DemoOptions {
        width: args.size.0,
        height: args.size.1,
        seed: args.seed,
        freeze: args.freeze,
        input_log: args.input_log,
        ..spicebox_vdi::DemoOptions::default()
    };
    spicebox_vdi::run(opts, producer, doorbell, tx, rx).context("demo host failed")
}
