//! Restart latency of the display worker, as a client sees it.
//!
//! Against a running `spicebox --disable-ticketing --demo-freeze --control
//! SOCK` (started by `bench/restart_latency.sh`), this connects a Rust test
//! client (main + display), waits for its first complete frame, then RUNS
//! times kills the display worker with SIGKILL (its pid from the control
//! socket, checked to be a child of the supervisor) and measures the time
//! from the kill until the client has received the whole full-surface
//! redraw (a DRAW_COPY whose box covers the surface, read to its last byte).
//!
//! The restart budget allows at most 5 unintended deaths a minute, and the
//! restart delay only drops back to zero (an immediate restart) for a worker
//! that ran 10 s. So kills are spaced by `--spacing-ms` (default 12 200 ms): every
//! kill is then a "first" death, the way a single crash in production is.
//! The idle time between kills is used for the reference measurement: a
//! fresh TCP connect (new session, main + display) to its first complete
//! frame, once per kill.
//!
//! Usage: restart_latency --port P --control SOCK [--runs 20] [--spacing-ms 12200]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use spicebox_tests::client::{
    drain_until_quiet, expect_open, wait_full_draw, ClientSurface, Session,
};
use spicebox_tests::harness::{proc_stat, signal_child};

const FRAME_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_MESSAGES: usize = 100_000;

struct Args {
    port: u16,
    control: PathBuf,
    runs: usize,
    spacing: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut control = None;
    let mut runs = 20usize;
    let mut spacing = Duration::from_millis(12_200);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--port" => port = Some(val()?.parse().map_err(|e| format!("--port: {e}"))?),
            "--control" => control = Some(PathBuf::from(val()?)),
            "--runs" => runs = val()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--spacing-ms" => {
                spacing =
                    Duration::from_millis(val()?.parse().map_err(|e| format!("--spacing-ms: {e}"))?)
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !(1..=1000).contains(&runs) {
        return Err("--runs must be 1..=1000".into());
    }
    Ok(Args {
        port: port.ok_or("--port is required")?,
        control: control.ok_or("--control is required")?,
        runs,
        spacing,
    })
}

/// `{"cmd":"status"}` on the control socket.
fn status(control: &PathBuf) -> Result<serde_json::Value, String> {
    let mut s = UnixStream::connect(control).map_err(|e| format!("control socket: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"{\"cmd\":\"status\"}\n")
        .map_err(|e| format!("control socket: {e}"))?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| format!("control socket: {e}"))?;
    serde_json::from_str(&line).map_err(|e| format!("status is not JSON ({e}): {line:?}"))
}

/// (supervisor pid, display worker pid) once the display worker runs.
fn display_pid(control: &PathBuf) -> Result<(u32, u32), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = status(control)?;
        let sup = st["supervisor_pid"].as_u64().unwrap_or(0) as u32;
        let w = st["workers"]
            .as_array()
            .and_then(|w| w.iter().find(|w| w["role"] == "display"))
            .cloned()
            .unwrap_or_default();
        let pid = w["pid"].as_u64().unwrap_or(0) as u32;
        if w["phase"] == "running" && pid != 0 {
            return Ok((sup, pid));
        }
        if w["phase"] == "given-up" {
            return Err(format!("the display worker was given up: {w}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("the display worker is not running: {w}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The detail of the display worker's last "restarting" event ("after 50 ms").
fn last_restart_delay(control: &PathBuf) -> Result<String, String> {
    let st = status(control)?;
    let w = st["workers"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["role"] == "display"))
        .cloned()
        .unwrap_or_default();
    Ok(w["history"]
        .as_array()
        .and_then(|h| h.iter().rev().find(|e| e["event"] == "restarting"))
        .and_then(|e| e["detail"].as_str())
        .unwrap_or("?")
        .to_owned())
}

/// Fresh TCP connect → main → display → first complete frame.
fn first_frame(addr: SocketAddr) -> Result<Duration, String> {
    let t0 = Instant::now();
    let session = Session::connect(addr, "").map_err(|e| format!("connect: {e}"))?;
    let mut display = session
        .open_display(0)
        .map_err(|e| format!("display: {e}"))?;
    let mut surface = ClientSurface::default();
    wait_full_draw(&mut display, &mut surface, FRAME_TIMEOUT, MAX_MESSAGES)
        .map_err(|e| format!("first frame: {e}"))?;
    Ok(t0.elapsed())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile.
fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

fn run(args: &Args) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let mut session = Session::connect(addr, "").map_err(|e| format!("connect: {e}"))?;
    let mut display = session
        .open_display(0)
        .map_err(|e| format!("display: {e}"))?;
    let mut surface = ClientSurface::default();
    let first = wait_full_draw(&mut display, &mut surface, FRAME_TIMEOUT, MAX_MESSAGES)
        .map_err(|e| format!("first frame: {e}"))?;
    drain_until_quiet(
        &mut display,
        &mut surface,
        Duration::from_millis(500),
        FRAME_TIMEOUT,
    )
    .map_err(|e| format!("display channel after the first frame: {e}"))?;
    let (w, h) = surface.size.unwrap_or((0, 0));
    println!(
        "client connected: {w}x{h} surface, first frame after {:.1} ms",
        ms(first.elapsed)
    );
    println!(
        "{} kills of the display worker, spaced {:.1} s (restart budget: 5 deaths/60 s)",
        args.runs,
        args.spacing.as_secs_f64()
    );

    let mut restart = Vec::new();
    let mut connect = Vec::new();
    let mut instance_since = Instant::now();
    for i in 1..=args.runs {
        // Reference: a fresh connect, early in the idle period.
        std::thread::sleep(Duration::from_millis(500));
        let c = first_frame(addr)?;
        connect.push(ms(c));
        // Idle until the worker instance has run `spacing`; keep reading
        // the session so that nothing queues.
        while instance_since.elapsed() < args.spacing {
            let left = args.spacing.saturating_sub(instance_since.elapsed());
            let chunk = left.min(Duration::from_millis(500));
            expect_open(&mut session.main, chunk / 2).map_err(|e| format!("main channel: {e}"))?;
            expect_open(&mut display, chunk / 2).map_err(|e| format!("display channel: {e}"))?;
        }
        let (sup, pid) = display_pid(&args.control)?;
        match proc_stat(pid) {
            Some(st) if st.ppid == sup => {}
            other => {
                return Err(format!(
                    "display pid {pid} is not a child of {sup}: {other:?}"
                ))
            }
        }
        let t0 = Instant::now();
        signal_child(sup, pid, Signal::SIGKILL)?;
        let log = wait_full_draw(&mut display, &mut surface, FRAME_TIMEOUT, MAX_MESSAGES)
            .map_err(|e| format!("redraw after kill {i}: {e}"))?;
        let d = t0.elapsed();
        instance_since = Instant::now();
        restart.push(ms(d));
        println!(
            "run {i:2}: kill -9 pid {pid} -> full redraw received in {:8.2} ms \
             ({} messages before it; supervisor delay: {}); \
             fresh connect -> first frame {:8.2} ms",
            ms(d),
            log.types.len().saturating_sub(1),
            last_restart_delay(&args.control).unwrap_or_else(|e| e),
            ms(c)
        );
    }
    let (rm, rp) = (median(&restart), percentile(&restart, 90.0));
    let (cm, cp) = (median(&connect), percentile(&connect, 90.0));
    println!();
    println!(
        "restart (kill -9 -> full redraw): median {rm:.2} ms, p90 {rp:.2} ms, n={}",
        restart.len()
    );
    println!(
        "reference (fresh TCP connect -> first complete frame): median {cm:.2} ms, p90 {cp:.2} ms, n={}",
        connect.len()
    );
    println!("ratio restart/fresh-connect (medians): {:.2}", rm / cm);
    println!("(a first death is restarted without delay; see the supervisor delay per run)");
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("restart_latency: {e}");
            eprintln!(
                "usage: restart_latency --port P --control SOCK [--runs N] [--spacing-ms MS]"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("restart_latency: {e}");
        std::process::exit(1);
    }
}
