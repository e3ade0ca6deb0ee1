//! Entry points of the child roles the supervisor re-executes itself in.
//! Each adopts the descriptors the supervisor placed for it and runs the
//! role's loop from its own crate; a worker confines itself in between (see
//! `sandbox/README.md` for the steps).

use anyhow::{bail, Context};
use spicebox_ipc::WorkerRole;
use spicebox_sandbox::seccomp::Policy;
use spicebox_sandbox::Confinement;

use crate::children::{display_fds, DOORBELL_FD, IPC_FD, SHM_FD};
use crate::cli::{HostArgs, WorkerArgs};

/// Address-space limit of the display worker: the shared mapping (about
/// 40 MiB at 4096x2160), a frame copied out and its encoding, three thread
/// stacks and malloc's per-thread arenas fit well below it.
const DISPLAY_ADDRESS_SPACE: u64 = 2 << 30;
/// Address-space limit of the inputs worker: one thread, small messages.
const INPUTS_ADDRESS_SPACE: u64 = 512 << 20;

/// Runs a channel worker: adopt its descriptors, confine the process while
/// it has one thread, then run the role's loop, which installs the role's
/// seccomp filter (`lock_down`) once its threads exist and before it reads
/// anything from a peer.
pub fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let role = WorkerRole::from_name(&args.role)
        .with_context(|| format!("unknown worker role {:?}", args.role))?;
    let ipc = spicebox_sandbox::inherited_fd(IPC_FD).context("no ipc socket")?;
    match role {
        WorkerRole::Display => {
            let shm = spicebox_sandbox::inherited_fd(SHM_FD).context("no shared framebuffer")?;
            let bell = spicebox_sandbox::inherited_fd(DOORBELL_FD).context("no doorbell")?;
            let policy = spicebox_display::seccomp::policy();
            confine(
                Confinement {
                    role: "display",
                    keep_fds: vec![IPC_FD, SHM_FD, DOORBELL_FD],
                    max_open_files: 64,
                    max_address_space: DISPLAY_ADDRESS_SPACE,
                    cpus: args.cpus,
                },
                &policy,
            )?;
            let compression = args.image_compression.for_display();
            let options = spicebox_display::Options {
                compression,
                wan: spicebox_display::WanOptions {
                    jpeg: args.jpeg_wan_compression.for_display(),
                    zlib_glz: args.zlib_glz_wan_compression.for_display(),
                },
                test_hooks: args.test_hooks,
            };
            let fault = args.fault_at_start;
            spicebox_display::run(ipc, shm, bell, options, || lock_down(&policy, fault))
                .context("display worker failed")
        }
        WorkerRole::Inputs => {
            let policy = spicebox_inputs::seccomp::policy();
            confine(
                Confinement {
                    role: "inputs",
                    keep_fds: vec![IPC_FD],
                    max_open_files: 32,
                    max_address_space: INPUTS_ADDRESS_SPACE,
                    cpus: args.cpus,
                },
                &policy,
            )?;
            let fault = args.fault_at_start;
            spicebox_inputs::run(ipc, args.test_hooks, || lock_down(&policy, fault))
                .context("inputs worker failed")
        }
    }
}

/// Confines the (still single-threaded) worker and logs the result.
fn confine(c: Confinement, policy: &Policy) -> anyhow::Result<()> {
    let report = spicebox_sandbox::confine(&c)
        .with_context(|| format!("cannot confine the {} worker", c.role))?;
    tracing::info!(
        role = c.role,
        namespaces = %report.namespaces(),
        cpus = ?report.cpus,
        syscalls = policy.allowed_count(),
        "worker confined"
    );
    Ok(())
}

/// The worker's `lock_down` step: its seccomp filter on every thread. With
/// `fault_at_start` (tests, `--fault-at-start`) the worker then breaks its
/// policy at once and dies of SIGSYS, at every start.
fn lock_down(policy: &Policy, fault_at_start: bool) -> Result<(), String> {
    spicebox_sandbox::seccomp::install(policy).map_err(|e| e.to_string())?;
    if fault_at_start {
        tracing::warn!(
            role = policy.role,
            "breaking the sandbox at start on request (test hooks)"
        );
        spicebox_sandbox::provoke(spicebox_ipc::Fault::ForbiddenSyscall);
    }
    Ok(())
}

/// Runs the host process: the demo desktop, an X display's capture or a
/// QEMU VM's D-Bus display.
pub fn host(args: HostArgs) -> anyhow::Result<()> {
    if !["demo", "x11", "qemu-dbus"].contains(&args.kind.as_str()) {
        bail!("unknown host kind {:?}", args.kind);
    }
    let ipc = spicebox_sandbox::inherited_fd(IPC_FD).context("no ipc socket")?;
    let mut displays = Vec::with_capacity(usize::from(args.displays));
    for index in 0..usize::from(args.displays) {
        let (shm_at, bell_at) = display_fds(index);
        let shm = spicebox_sandbox::inherited_fd(shm_at)
            .with_context(|| format!("no shared framebuffer for display {index}"))?;
        let bell = spicebox_sandbox::inherited_fd(bell_at)
            .with_context(|| format!("no doorbell for display {index}"))?;
        let producer = spicebox_shm::Producer::open(shm)
            .with_context(|| format!("cannot map the framebuffer of display {index}"))?;
        displays.push((producer, spicebox_shm::Doorbell::from_fd(bell)));
    }
    let (tx, rx) = spicebox_ipc::split_sync(ipc);
    if args.kind == "x11" {
        let mut displays = displays.into_iter();
        let (Some((producer, doorbell)), None) = (displays.next(), displays.next()) else {
            bail!("the x11 host serves exactly one display");
        };
        let display = args.display.context("the x11 host needs --display")?;
        let opts = spicebox_vdi::x11::X11Options {
            ends_on_exit: args.ends_on_exit,
            ..spicebox_vdi::x11::X11Options::new(display)
        };
        return spicebox_vdi::x11::run(opts, producer, doorbell, tx, rx).context("x11 host failed");
    }
    if args.kind == "qemu-dbus" {
        let address = args.address.context("the qemu-dbus host needs --address")?;
        let opts = spicebox_vdi::qemu::QemuOptions {
            ends_on_exit: args.ends_on_exit,
            ..spicebox_vdi::qemu::QemuOptions::new(address)
        };
        return spicebox_vdi::qemu::run(opts, displays, tx, rx).context("qemu-dbus host failed");
    }
    let (width, height) = args.size.context("the demo host needs --size")?;
    let opts = spicebox_vdi::DemoOptions {
        width,
        height,
        seed: args.seed.context("the demo host needs --seed")?,
        freeze: args.freeze,
        input_log: args.input_log,
        scene: args.scene,
        ..spicebox_vdi::DemoOptions::default()
    };
    spicebox_vdi::run_displays(opts, displays, tx, rx).context("demo host failed")
}
