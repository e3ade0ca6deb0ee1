//! Command line: `spicebox [serve flags]`, `spicebox ctl …`, and the hidden
//! roles the supervisor re-executes itself in.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use spicebox_vdi::qemu::QMP_PREFIX;

/// spicebox: a SPICE remote-display server whose channels each run in their
/// own worker process.
#[derive(Parser, Debug)]
#[command(
    name = "spicebox",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Talk to a running spicebox over its control socket.
    Ctl(CtlArgs),
    /// Internal: run as a channel worker (started by the supervisor).
    #[command(hide = true)]
    Worker(WorkerArgs),
    /// Internal: run as the host, demo desktop or X11 display (started by
    /// the supervisor).
    #[command(hide = true)]
    Host(HostArgs),
}

/// Image compression for display updates (the names QEMU's -spice uses).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageCompression {
    /// Per image: QUIC for photographic content, GLZ for the rest.
    #[value(name = "auto_glz")]
    AutoGlz,
    /// Per image: QUIC for photographic content, LZ for the rest.
    #[value(name = "auto_lz")]
    AutoLz,
    /// QUIC for every image.
    Quic,
    /// GLZ (dictionary across images) for every image.
    Glz,
    /// LZ for every image.
    Lz,
    /// LZ4 blocks (falls back to bitmaps for clients without the LZ4 cap).
    Lz4,
    /// Plain bitmaps.
    Off,
}

impl ImageCompression {
    pub fn name(self) -> &'static str {
        match self {
            ImageCompression::AutoGlz => "auto_glz",
            ImageCompression::AutoLz => "auto_lz",
            ImageCompression::Quic => "quic",
            ImageCompression::Glz => "glz",
            ImageCompression::Lz => "lz",
            ImageCompression::Lz4 => "lz4",
            ImageCompression::Off => "off",
        }
    }

    /// The display worker's name for the same mode.
    pub fn for_display(self) -> spicebox_display::Compression {
        use spicebox_display::Compression as C;
        match self {
            ImageCompression::AutoGlz => C::AutoGlz,
            ImageCompression::AutoLz => C::AutoLz,
            ImageCompression::Quic => C::Quic,
            ImageCompression::Glz => C::Glz,
            ImageCompression::Lz => C::Lz,
            ImageCompression::Lz4 => C::Lz4,
            ImageCompression::Off => C::Off,
        }
    }
}

/// When a WAN codec (JPEG, ZLIB_GLZ) is used, as QEMU's -spice names it.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WanCompression {
    /// Only on links the main channel measured as low bandwidth.
    Auto,
    /// Never.
    Never,
    /// On every link.
    Always,
}

impl WanCompression {
    pub fn name(self) -> &'static str {
        match self {
            WanCompression::Auto => "auto",
            WanCompression::Never => "never",
            WanCompression::Always => "always",
        }
    }

    /// The display worker's name for the same setting.
    pub fn for_display(self) -> spicebox_display::WanSetting {
        use spicebox_display::WanSetting as W;
        match self {
            WanCompression::Auto => W::Auto,
            WanCompression::Never => W::Never,
            WanCompression::Always => W::Always,
        }
    }
}

/// What spicebox does when the machine behind its host (the X server,
/// the QEMU VM) goes away.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnHostExit {
    /// Keep the clients connected on a "gone" picture until the machine
    /// is back.
    #[default]
    Wait,
    /// Show the "gone" picture briefly, close every session and exit
    /// with status 0.
    End,
}

/// Most displays one server serves (`--displays`).
pub const MAX_DISPLAYS: u8 = 4;

/// What the server shows: the built-in demo desktop or an X display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The built-in demo desktop (`demo`).
    Demo,
    /// An existing X display (`x11:DISPLAY`, e.g. `x11::99`).
    X11(String),
    /// A QEMU VM's D-Bus display (`qemu-dbus:ADDRESS`): the D-Bus address
    /// of the bus QEMU joined, or None (`qemu-dbus`) for the one in
    /// `DBUS_SESSION_BUS_ADDRESS`, as libvirt hands it over.
    QemuDbus(Option<String>),
    /// A QEMU VM started with `-display dbus,p2p=yes`, reached through its
    /// QMP socket (`qemu-dbus:qmp=PATH`).
    QemuQmp(PathBuf),
}

impl Source {
    /// The spelling `parse_source` reads.
    pub fn name(&self) -> String {
        match self {
            Source::Demo => "demo".into(),
            Source::X11(display) => format!("x11:{display}"),
            Source::QemuDbus(Some(address)) => format!("qemu-dbus:{address}"),
            Source::QemuDbus(None) => "qemu-dbus".into(),
            Source::QemuQmp(path) => format!("qemu-dbus:{QMP_PREFIX}{}", path.display()),
        }
    }
}

/// Parses `demo`, `x11:DISPLAY`, where DISPLAY is what the `DISPLAY`
/// variable would hold (`:99`, `:0.1`, `unix/:0`), `qemu-dbus[:ADDRESS]`
/// with a D-Bus address (`unix:path=/run/vm/bus.sock`), or
/// `qemu-dbus:qmp=PATH` with a QMP socket.
pub fn parse_source(s: &str) -> Result<Source, String> {
    if s == "demo" {
        return Ok(Source::Demo);
    }
    if s == "qemu-dbus" {
        return Ok(Source::QemuDbus(None));
    }
    if let Some(path) = s
        .strip_prefix("qemu-dbus:")
        .and_then(|rest| rest.strip_prefix(QMP_PREFIX))
    {
        // It goes to the host's command line and into logs.
        let printable = path.chars().all(|c| c.is_ascii_graphic());
        if path.is_empty() || path.len() > 1024 || !printable {
            return Err(format!(
                "bad QMP socket path {path:?}: expected e.g. qemu-dbus:qmp=/run/vm1/qmp.sock"
            ));
        }
        return Ok(Source::QemuQmp(PathBuf::from(path)));
    }
    if let Some(address) = s.strip_prefix("qemu-dbus:") {
        return parse_dbus_address(address).map(|a| Source::QemuDbus(Some(a)));
    }
    let Some(display) = s.strip_prefix("x11:") else {
        return Err(format!(
            "expected demo, x11:DISPLAY (e.g. x11::99), qemu-dbus[:ADDRESS] or \
             qemu-dbus:qmp=PATH, got {s:?}"
        ));
    };
    // The display name goes to the host's command line and into logs.
    let printable = display.chars().all(|c| c.is_ascii_graphic());
    if display.is_empty() || display.len() > 256 || !printable || !display.contains(':') {
        return Err(format!(
            "bad X display {display:?}: expected what DISPLAY holds, e.g. x11::99 for :99"
        ));
    }
    Ok(Source::X11(display.to_string()))
}

/// Checks a D-Bus address (`transport:key=value,…`, several separated by
/// `;`) enough to refuse typos early; the host parses it for real.
pub fn parse_dbus_address(address: &str) -> Result<String, String> {
    // It goes to the host's command line and into logs.
    let printable = address.chars().all(|c| c.is_ascii_graphic());
    let shaped = address
        .split(';')
        .filter(|a| !a.is_empty())
        .all(|a| matches!(a.split_once(':'), Some((t, _)) if !t.is_empty()));
    if address.is_empty() || address.len() > 1024 || !printable || !shaped {
        return Err(format!(
            "bad D-Bus address {address:?}: expected e.g. unix:path=/run/vm/bus.sock"
        ));
    }
    Ok(address.to_string())
}

/// Flags of the server itself.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// What to serve: `demo` (the built-in desktop), `x11:DISPLAY`, an
    /// existing X display such as `x11::99` for DISPLAY=:99 (see
    /// docs/x11.md), `qemu-dbus[:ADDRESS]`, a QEMU VM's D-Bus display
    /// on the bus at ADDRESS (default: DBUS_SESSION_BUS_ADDRESS; see
    /// docs/qemu.md), or `qemu-dbus:qmp=PATH`, a VM started with
    /// `-display dbus,p2p=yes` and its QMP socket at PATH.
    #[arg(long, value_name = "demo|x11:DISPLAY|qemu-dbus[:ADDRESS]|qemu-dbus:qmp=PATH", value_parser = parse_source, default_value = "demo")]
    pub source: Source,
    /// When the X server or the QEMU VM goes away: `wait` keeps the
    /// clients on a "gone" picture until it is back; `end` shows that
    /// picture for a second, closes every session and exits with status
    /// 0 (for one spicebox per VM under systemd or libvirt). No effect on
    /// the demo source.
    #[arg(long, value_enum, default_value_t = OnHostExit::Wait)]
    pub on_host_exit: OnHostExit,
    /// Displays (monitors) served, each its own display and cursor
    /// channel with its own worker: the demo shows one desktop per
    /// display, a QEMU VM one console per display. An X display is one.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=MAX_DISPLAYS as i64))]
    pub displays: u8,
    /// Address to listen on (ignored for sockets passed by systemd).
    #[arg(long, default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// TCP port to listen on.
    #[arg(long, default_value_t = 5900)]
    pub port: u16,
    /// File whose first line is the password clients must present
    /// (the SPICEBOX_PASSWORD variable works too).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Let clients connect without a password.
    #[arg(long)]
    pub disable_ticketing: bool,
    /// Image compression for display updates.
    #[arg(long, value_enum, default_value_t = ImageCompression::AutoGlz)]
    pub image_compression: ImageCompression,
    /// JPEG in place of QUIC for photographic images (JPEG_ALPHA where
    /// there is alpha): lossy, for slow links.
    #[arg(long, value_enum, default_value_t = WanCompression::Auto)]
    pub jpeg_wan_compression: WanCompression,
    /// GLZ images deflated once more with zlib where that is smaller.
    #[arg(long, value_enum, default_value_t = WanCompression::Auto)]
    pub zlib_glz_wan_compression: WanCompression,
    /// Size of the demo desktop, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x800", value_parser = parse_size)]
    pub demo_size: (u32, u32),
    /// Seed of the demo desktop's content (same seed, same picture).
    #[arg(long, default_value_t = 1)]
    pub demo_seed: u64,
    /// Stop the demo's animation so that the picture is stable.
    #[arg(long)]
    pub demo_freeze: bool,
    /// Append every input event the demo host receives to FILE, one JSON
    /// object per line.
    #[arg(long, value_name = "FILE")]
    pub demo_input_log: Option<PathBuf>,
    /// Test-only: show the frozen desktop, and from the first key press on
    /// play a scripted sequence of updates (see vdi/src/scripted/mod.rs),
    /// then hold the last picture.
    #[arg(long, hide = true, value_name = "NAME")]
    pub demo_scene: Option<String>,
    /// Open a control socket at PATH for `spicebox ctl`.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Seconds a client may take to complete the link stage.
    #[arg(long, default_value_t = 10)]
    pub link_timeout: u64,
    /// Pin each worker type to CPUs, e.g. `display=1,inputs=0,audio=0`
    /// (a role may list several CPUs separated by `+`, e.g. `display=2+3`).
    #[arg(long, value_name = "ROLE=CPU,...", value_parser = parse_cpus, default_value = "")]
    pub cpus: CpuPins,
    /// TOML file with any of these settings; flags given on the command
    /// line win over the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Test-only: let `ctl inject-fault` make workers misbehave.
    #[arg(long, hide = true)]
    pub test_hooks: bool,
    /// Test-only (needs --test-hooks): the named worker breaks its sandbox
    /// right after every start, so it dies at every start.
    #[arg(long, hide = true, value_name = "ROLE")]
    pub test_fault_at_start: Option<String>,
}

/// Worker roles that may be pinned; the later ones arrive with their issues.
pub const PINNABLE_ROLES: [&str; 6] = ["display", "inputs", "audio", "usb", "smartcard", "agent"];

/// CPU sets per worker role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuPins(pub Vec<(String, Vec<usize>)>);

impl CpuPins {
    /// The CPUs for `role`, if pinned.
    pub fn for_role(&self, role: &str) -> Option<&[usize]> {
        self.0
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, c)| c.as_slice())
    }
}

/// Parses `display=1,inputs=0,audio=2+3`.
pub fn parse_cpus(s: &str) -> Result<CpuPins, String> {
    let mut pins: Vec<(String, Vec<usize>)> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (role, cpus) = item
            .split_once('=')
            .ok_or_else(|| format!("expected ROLE=CPU in {item:?}"))?;
        if !PINNABLE_ROLES.contains(&role) {
            return Err(format!(
                "unknown worker role {role:?} (one of {PINNABLE_ROLES:?})"
            ));
        }
        if pins.iter().any(|(r, _)| r == role) {
            return Err(format!("worker role {role:?} pinned twice"));
        }
        let cpus = parse_cpu_list(cpus)?;
        pins.push((role.to_string(), cpus));
    }
    Ok(CpuPins(pins))
}

/// Parses `1` or `2+3` into CPU numbers.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let cpus: Vec<usize> = s
        .split('+')
        .map(|c| {
            c.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad CPU number {c:?}"))
        })
        .collect::<Result<_, _>>()?;
    if cpus.is_empty() || cpus.iter().any(|c| *c >= 1024) {
        return Err(format!("CPU list {s:?} must name CPUs below 1024"));
    }
    Ok(cpus)
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {s:?}"))?;
    let w: u32 = w.parse().map_err(|_| format!("bad width in {s:?}"))?;
    let h: u32 = h.parse().map_err(|_| format!("bad height in {s:?}"))?;
    if !(320..=4096).contains(&w) || !(200..=2160).contains(&h) {
        return Err(format!("{w}x{h} is outside 320x200..4096x2160"));
    }
    Ok((w, h))
}

#[derive(Args, Debug)]
pub struct CtlArgs {
    /// The control socket given to the server with --control.
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
    #[command(subcommand)]
    pub request: CtlRequest,
}

#[derive(Subcommand, Debug)]
pub enum CtlRequest {
    /// Print sessions, channels and worker processes as JSON.
    Status,
    /// Write a display's primary surface, as the server holds it, to FILE
    /// (PNG if FILE ends in .png, else binary PPM).
    Screendump {
        file: PathBuf,
        /// Which display (0 is the first).
        #[arg(long, default_value_t = 0)]
        display: u8,
    },
    /// Change a setting at run time.
    Set {
        #[command(subcommand)]
        setting: Setting,
    },
    /// Stop a worker on purpose; the supervisor starts a new one and the
    /// clients keep their connections.
    RestartWorker { role: String },
    /// Test-only (server started with --test-hooks): make a worker call a
    /// system call outside its seccomp policy.
    #[command(hide = true)]
    InjectFault { role: String },
}

#[derive(Subcommand, Debug)]
pub enum Setting {
    /// Image compression for the next images (auto_glz, auto_lz, quic, glz,
    /// lz, lz4, off).
    ImageCompression { mode: String },
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// display or inputs.
    pub role: String,
    /// Image compression (display worker).
    #[arg(long, value_enum, default_value_t = ImageCompression::AutoGlz)]
    pub image_compression: ImageCompression,
    /// JPEG setting (display worker).
    #[arg(long, value_enum, default_value_t = WanCompression::Auto)]
    pub jpeg_wan_compression: WanCompression,
    /// ZLIB_GLZ setting (display worker).
    #[arg(long, value_enum, default_value_t = WanCompression::Auto)]
    pub zlib_glz_wan_compression: WanCompression,
    /// Pin the worker to these CPUs (comma-separated CPU numbers, e.g.
    /// `2,3`); each must be one the process is allowed to run on.
    #[arg(long, value_name = "LIST", value_delimiter = ',', num_args = 1)]
    pub cpus: Option<Vec<usize>>,
    /// Test-only: honour fault-injection requests from the supervisor.
    #[arg(long, hide = true)]
    pub test_hooks: bool,
    /// Test-only (needs --test-hooks): make a forbidden system call right
    /// after locking down, so that the worker dies of SIGSYS at start.
    #[arg(long, hide = true, requires = "test_hooks")]
    pub fault_at_start: bool,
}

#[derive(Args, Debug)]
pub struct HostArgs {
    /// `demo`, `x11` or `qemu-dbus`.
    pub kind: String,
    /// Demo: screen size.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Demo: content seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// X11: the display to share (what DISPLAY would hold).
    #[arg(long)]
    pub display: Option<String>,
    /// QEMU: the D-Bus address of the VM's bus, or `qmp=PATH`, the QMP
    /// socket of a VM in peer-to-peer mode.
    #[arg(long)]
    pub address: Option<String>,
    #[arg(long)]
    pub freeze: bool,
    #[arg(long)]
    pub input_log: Option<PathBuf>,
    #[arg(long)]
    pub scene: Option<String>,
    /// X11 and QEMU: the supervisor ends the sessions when the machine
    /// goes away, and the "gone" picture says so.
    #[arg(long)]
    pub ends_on_exit: bool,
    /// Displays served, their regions and doorbells at the descriptors
    /// `children::display_fds` names.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=MAX_DISPLAYS as i64))]
    pub displays: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_are_bounded() {
        assert_eq!(parse_size("1280x800"), Ok((1280, 800)));
        assert_eq!(parse_size("1000X700"), Ok((1000, 700)));
        assert!(parse_size("100x100").is_err());
        assert!(parse_size("5000x800").is_err());
        assert!(parse_size("1280").is_err());
        assert!(parse_size("ax800").is_err());
    }

    #[test]
    fn sources_parse() {
        assert_eq!(parse_source("demo"), Ok(Source::Demo));
        assert_eq!(parse_source("x11::99"), Ok(Source::X11(":99".into())));
        assert_eq!(
            parse_source("x11:unix/:0.1"),
            Ok(Source::X11("unix/:0.1".into()))
        );
        assert_eq!(
            parse_source("x11::7").map(|s| s.name()),
            Ok("x11::7".into())
        );
        for bad in ["x11:", "x11:99", "x11::9 9", "vnc::1", "", "X11::1"] {
            assert!(parse_source(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_source("qemu-dbus"), Ok(Source::QemuDbus(None)));
        let bus = "unix:path=/run/vm/bus.sock";
        assert_eq!(
            parse_source(&format!("qemu-dbus:{bus}")),
            Ok(Source::QemuDbus(Some(bus.into())))
        );
        assert_eq!(
            parse_source("qemu-dbus:unix:abstract=x;tcp:host=a,port=1").map(|s| s.name()),
            Ok("qemu-dbus:unix:abstract=x;tcp:host=a,port=1".into())
        );
        for bad in [
            "qemu-dbus:",
            "qemu-dbus:/tmp/bus",
            "qemu-dbus:unix:path=a b",
            "qemu-dbus::x",
            "qemu-dbus:qmp=",
            "qemu-dbus:qmp=/a b",
        ] {
            assert!(parse_source(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_source("qemu-dbus:qmp=/run/vm1/qmp.sock"),
            Ok(Source::QemuQmp(PathBuf::from("/run/vm1/qmp.sock")))
        );
        assert_eq!(
            parse_source("qemu-dbus:qmp=vm1/qmp.sock").map(|s| s.name()),
            Ok("qemu-dbus:qmp=vm1/qmp.sock".into())
        );
    }

    #[test]
    fn cpu_pins_parse_and_refuse_nonsense() {
        let pins = parse_cpus("display=1,inputs=0,audio=2+3").expect("pins");
        assert_eq!(pins.for_role("display"), Some(&[1][..]));
        assert_eq!(pins.for_role("audio"), Some(&[2, 3][..]));
        assert_eq!(pins.for_role("usb"), None);
        assert_eq!(parse_cpus(""), Ok(CpuPins::default()));
        assert!(parse_cpus("gpu=1").is_err());
        assert!(parse_cpus("display=x").is_err());
        assert!(parse_cpus("display=1,display=2").is_err());
        assert!(parse_cpus("display").is_err());
        assert!(parse_cpus("display=5000").is_err());
    }
}
