//! Keeps one SPICE client session connected, for measurements at rest.
//!
//! Links main, then every display, cursor and inputs channel the server
//! lists (works against spicebox and QEMU's libspice-server alike: message
//! bodies are not decoded), waits for the display's first MARK (the first
//! complete picture), prints `ready` on stdout, and then keeps reading every
//! channel (answering PING and SET_ACK) until `--seconds` have passed or a
//! channel closes.
//!
//! Usage: hold_session --port P [--seconds 60] [--password PW]

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use spicebox_tests::client::{consts::*, expect_open, Channel, Session};

fn main() {
    let mut port: Option<u16> = None;
    let mut seconds = 60u64;
    let mut password = String::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().unwrap_or_default();
        match a.as_str() {
            "--port" => port = v.parse().ok(),
            "--seconds" => seconds = v.parse().unwrap_or(60).min(3600),
            "--password" => password = v,
            _ => {
                eprintln!("usage: hold_session --port P [--seconds N] [--password PW]");
                std::process::exit(2);
            }
        }
    }
    let Some(port) = port else {
        eprintln!("hold_session: --port is required");
        std::process::exit(2);
    };
    if let Err(e) = run(port, Duration::from_secs(seconds), &password) {
        eprintln!("hold_session: {e}");
        std::process::exit(1);
    }
}

fn run(port: u16, hold: Duration, password: &str) -> Result<(), String> {
    let start = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut session = Session::connect(addr, password).map_err(|e| format!("connect: {e}"))?;
    let mut others: Vec<(String, Channel)> = Vec::new();
    for &(t, id) in &session.channels.clone() {
        let ch = match t {
            CHANNEL_DISPLAY => session.open_display(id),
            CHANNEL_CURSOR | CHANNEL_INPUTS => session.open(t, id, &[]),
            _ => continue,
        }
        .map_err(|e| format!("linking channel {t}:{id}: {e}"))?;
        others.push((format!("{t}:{id}"), ch));
    }
    let display = others
        .iter_mut()
        .find(|(n, _)| n.starts_with(&format!("{CHANNEL_DISPLAY}:")))
        .ok_or("the server lists no display channel")?;
    display
        .1
        .recv_type(MSG_DISPLAY_MARK, Duration::from_secs(30))
        .map_err(|e| format!("first picture (MARK): {e}"))?;
    println!(
        "ready: {} channels linked, first picture after {:.0} ms",
        others.len() + 1,
        start.elapsed().as_secs_f64() * 1000.0
    );
    let _ = std::io::stdout().flush();
    while start.elapsed() < hold {
        expect_open(&mut session.main, Duration::from_millis(100))
            .map_err(|e| format!("main channel: {e}"))?;
        for (name, ch) in others.iter_mut() {
            expect_open(ch, Duration::from_millis(100))
                .map_err(|e| format!("channel {name}: {e}"))?;
        }
    }
    Ok(())
}
