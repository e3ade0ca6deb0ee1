//! The TOML configuration file (`--config FILE`). Every key mirrors a flag;
//! a flag given on the command line wins over the file.
//!
//! ```toml
//! addr = "127.0.0.1"
//! port = 5900
//! password-file = "/etc/spicebox/password"
//! image-compression = "lz4"
//! source = "x11::99"
//! on-host-exit = "end"
//! control = "/run/spicebox/ctl.sock"
//!
//! [cpus]
//! display = 1
//! inputs = 0
//! audio = [2, 3]
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{ArgMatches, ValueEnum};
use serde::Deserialize;

use crate::cli::{
    parse_cpus, parse_source, ImageCompression, OnHostExit, ServeArgs, WanCompression,
    MAX_DISPLAYS, PINNABLE_ROLES,
};

/// Largest configuration file read; a config is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    addr: Option<IpAddr>,
    port: Option<u16>,
    password_file: Option<PathBuf>,
    disable_ticketing: Option<bool>,
    image_compression: Option<String>,
    jpeg_wan_compression: Option<String>,
    zlib_glz_wan_compression: Option<String>,
    source: Option<String>,
    on_host_exit: Option<String>,
    displays: Option<u8>,
    demo_seed: Option<u64>,
    demo_freeze: Option<bool>,
    control: Option<PathBuf>,
    link_timeout: Option<u64>,
    cpus: Option<BTreeMap<String, CpuValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CpuValue {
    One(usize),
    Many(Vec<usize>),
}

/// Reads `path` and fills in every setting not given on the command line.
pub fn apply(args: &mut ServeArgs, matches: &ArgMatches, path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open config {}", path.display()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_CONFIG_BYTES + 1),
        &mut text,
    )
    .with_context(|| format!("cannot read config {}", path.display()))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        bail!(
            "config {} is larger than {MAX_CONFIG_BYTES} bytes",
            path.display()
        );
    }
    let cfg: ConfigFile =
        toml::from_str(&text).with_context(|| format!("bad config {}", path.display()))?;
    let unset = |id: &str| matches.value_source(id) != Some(ValueSource::CommandLine);

    if let (Some(v), true) = (cfg.addr, unset("addr")) {
        args.addr = v;
    }
    if let (Some(v), true) = (cfg.port, unset("port")) {
        args.port = v;
    }
    if let (Some(v), true) = (cfg.password_file, unset("password_file")) {
        args.password_file = Some(v);
    }
    if let (Some(v), true) = (cfg.disable_ticketing, unset("disable_ticketing")) {
        args.disable_ticketing = v;
    }
    if let (Some(v), true) = (cfg.image_compression, unset("image_compression")) {
        args.image_compression = ImageCompression::from_str(&v, true)
            .map_err(|e| anyhow::anyhow!("bad image-compression {v:?} in config: {e}"))?;
    }
    if let (Some(v), true) = (cfg.jpeg_wan_compression, unset("jpeg_wan_compression")) {
        args.jpeg_wan_compression = WanCompression::from_str(&v, true)
            .map_err(|e| anyhow::anyhow!("bad jpeg-wan-compression {v:?} in config: {e}"))?;
    }
    if let (Some(v), true) = (
        cfg.zlib_glz_wan_compression,
        unset("zlib_glz_wan_compression"),
    ) {
        args.zlib_glz_wan_compression = WanCompression::from_str(&v, true)
            .map_err(|e| anyhow::anyhow!("bad zlib-glz-wan-compression {v:?} in config: {e}"))?;
    }
    if let (Some(v), true) = (cfg.source, unset("source")) {
        args.source =
            parse_source(&v).map_err(|e| anyhow::anyhow!("bad source {v:?} in config: {e}"))?;
    }
    if let (Some(v), true) = (cfg.on_host_exit, unset("on_host_exit")) {
        args.on_host_exit = OnHostExit::from_str(&v, true)
            .map_err(|e| anyhow::anyhow!("bad on-host-exit {v:?} in config: {e}"))?;
    }
    if let (Some(v), true) = (cfg.displays, unset("displays")) {
        if !(1..=MAX_DISPLAYS).contains(&v) {
            bail!("bad displays {v} in config: 1 to {MAX_DISPLAYS}");
        }
        args.displays = v;
    }
    if let (Some(v), true) = (cfg.demo_seed, unset("demo_seed")) {
        args.demo_seed = v;
    }
    if let (Some(v), true) = (cfg.demo_freeze, unset("demo_freeze")) {
        args.demo_freeze = v;
    }
    if let (Some(v), true) = (cfg.control, unset("control")) {
        args.control = Some(v);
    }
    if let (Some(v), true) = (cfg.link_timeout, unset("link_timeout")) {
        args.link_timeout = v;
    }
    if let (Some(map), true) = (cfg.cpus, unset("cpus")) {
        let spec: Vec<String> = map
            .into_iter()
            .map(|(role, v)| {
                let list = match v {
                    CpuValue::One(c) => vec![c],
                    CpuValue::Many(cs) => cs,
                };
                let list: Vec<String> = list.iter().map(usize::to_string).collect();
                format!("{role}={}", list.join("+"))
            })
            .collect();
        args.cpus = parse_cpus(&spec.join(",")).map_err(|e| {
            anyhow::anyhow!("bad [cpus] in config: {e} (roles: {PINNABLE_ROLES:?})")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::cli::{Cli, CpuPins};

    fn load(argv: &[&str], toml: &str) -> anyhow::Result<ServeArgs> {
        let dir = std::env::temp_dir().join(format!(
            "spicebox-config-{}-{}",
            std::process::id(),
            toml.len()
        ));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("c.toml");
        std::fs::write(&path, toml)?;
        let matches = Cli::command().try_get_matches_from(argv)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        let result = apply(&mut cli.serve, &matches, &path);
        let _ = std::fs::remove_dir_all(&dir);
        result.map(|()| cli.serve)
    }

    #[test]
    fn file_fills_in_and_flags_win() {
        let args = load(
            &["spicebox", "--port", "6000"],
            "port = 5901\nimage-compression = \"off\"\n[cpus]\ndisplay = 1\naudio = [2, 3]\n",
        )
        .expect("config");
        assert_eq!(args.port, 6000);
        assert_eq!(args.image_compression, ImageCompression::Off);
        assert_eq!(args.source, crate::cli::Source::Demo);
        assert_eq!(
            args.cpus,
            CpuPins(vec![
                ("audio".into(), vec![2, 3]),
                ("display".into(), vec![1])
            ])
        );
    }

    #[test]
    fn source_comes_from_the_file_unless_given() {
        let args = load(&["spicebox"], "source = \"x11::5\"\n").expect("config");
        assert_eq!(args.source, crate::cli::Source::X11(":5".into()));
        let args =
            load(&["spicebox", "--source", "demo"], "source = \"x11::5\"\n").expect("config");
        assert_eq!(args.source, crate::cli::Source::Demo);
        assert!(load(&["spicebox"], "source = \"x11:\"\n").is_err());
        let args = load(&["spicebox"], "source = \"qemu-dbus:unix:path=/b\"\n").expect("config");
        assert_eq!(
            args.source,
            crate::cli::Source::QemuDbus(Some("unix:path=/b".into()))
        );
    }

    #[test]
    fn on_host_exit_comes_from_the_file_unless_given() {
        let args = load(&["spicebox"], "").expect("config");
        assert_eq!(args.on_host_exit, OnHostExit::Wait);
        let args = load(&["spicebox"], "on-host-exit = \"end\"\n").expect("config");
        assert_eq!(args.on_host_exit, OnHostExit::End);
        let args = load(
            &["spicebox", "--on-host-exit", "wait"],
            "on-host-exit = \"end\"\n",
        )
        .expect("config");
        assert_eq!(args.on_host_exit, OnHostExit::Wait);
        assert!(load(&["spicebox"], "on-host-exit = \"restart\"\n").is_err());
        let args = load(&["spicebox"], "source = \"qemu-dbus:qmp=/q.sock\"\n").expect("config");
        assert_eq!(
            args.source,
            crate::cli::Source::QemuQmp(std::path::PathBuf::from("/q.sock"))
        );
    }

    #[test]
    fn displays_come_from_the_command_line_or_the_file_within_bounds() {
        assert_eq!(load(&["spicebox"], "").expect("config").displays, 1);
        assert_eq!(
            load(&["spicebox"], "displays = 3\n")
                .expect("config")
                .displays,
            3
        );
        let args = load(&["spicebox", "--displays", "2"], "displays = 4\n").expect("config");
        assert_eq!(args.displays, 2);
        for bad in ["displays = 0\n", "displays = 5\n", "displays = 300\n"] {
            assert!(load(&["spicebox"], bad).is_err(), "{bad}");
        }
        for bad in ["0", "5"] {
            assert!(load(&["spicebox", "--displays", bad], "").is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_and_roles_are_refused() {
        assert!(load(&["spicebox"], "colour = 3\n").is_err());
        assert!(load(&["spicebox"], "[cpus]\ngpu = 1\n").is_err());
        assert!(load(&["spicebox"], "image-compression = \"zstd\"\n").is_err());
        assert!(load(&["spicebox"], "port = \"x\"\n").is_err());
    }
}
