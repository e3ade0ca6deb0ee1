//! Command line: `spicebox [serve flags]`, `spicebox ctl …`, and the hidden
//! roles the supervisor re-executes itself in.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Internal: run as the demo desktop host (started by the supervisor).
    #[command(hide = true)]
    Host(HostArgs),
}

/// Image compression for display updates (the names QEMU's -spice uses).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageCompression {
    /// Plain bitmaps.
    Off,
    /// LZ4 blocks (falls back to bitmaps for clients without the LZ4 cap).
    Lz4,
}

impl ImageCompression {
    pub fn name(self) -> &'static str {
        match self {
            ImageCompression::Off => "off",
            ImageCompression::Lz4 => "lz4",
        }
    }
}

/// Flags of the server itself.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
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
    #[arg(long, value_enum, default_value_t = ImageCompression::Lz4)]
    pub image_compression: ImageCompression,
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
    /// Open a control socket at PATH for `spicebox ctl`.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Seconds a client may take to complete the link stage.
    #[arg(long, default_value_t = 10)]
    pub link_timeout: u64,
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
    /// Write the primary surface, as the server holds it, to FILE
    /// (PNG if FILE ends in .png, else binary PPM).
    Screendump { file: PathBuf },
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// display or inputs.
    pub role: String,
    /// Image compression (display worker).
    #[arg(long, value_enum, default_value_t = ImageCompression::Lz4)]
    pub image_compression: ImageCompression,
}

#[derive(Args, Debug)]
pub struct HostArgs {
    /// Only `demo` exists for now.
    pub kind: String,
    #[arg(long, value_parser = parse_size)]
    pub size: (u32, u32),
    #[arg(long)]
    pub seed: u64,
    #[arg(long)]
    pub freeze: bool,
    #[arg(long)]
    pub input_log: Option<PathBuf>,
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
}
