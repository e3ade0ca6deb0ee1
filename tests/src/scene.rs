//! Playing one of the demo's scripted scenes (`--demo-scene NAME`) in
//! front of the Rust test client.

use std::time::{Duration, Instant};

use crate::client::{consts::*, key_body, Channel, ClientSurface};
use crate::harness::Server;

/// Starts the scene with a key press on `inputs`, then applies every
/// message of `display` to `surface` (which fails on anything a server
/// must never send) and shows it to `seen`, until the server has logged
/// `scene finished` and the channel stayed quiet for `quiet`. Panics
/// after `timeout`.
pub fn play_scene(
    server: &Server,
    inputs: &mut Channel,
    display: &mut Channel,
    surface: &mut ClientSurface,
    (quiet, timeout): (Duration, Duration),
    mut seen: impl FnMut(u16, &[u8]),
) {
    inputs
        .send(MSGC_INPUTS_KEY_DOWN, &key_body(0x39))
        .expect("KEY_DOWN");
    inputs
        .send(MSGC_INPUTS_KEY_UP, &key_body(0xb9))
        .expect("KEY_UP");
    let deadline = Instant::now() + timeout;
    let mut finished_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        assert!(
            now < deadline,
            "the scene did not finish and settle in {timeout:?}"
        );
        if finished_at.is_none() && !server.log_lines_with("scene finished").is_empty() {
            finished_at = Some(now);
        }
        match display.recv(quiet) {
            Ok((t, body)) => {
                surface
                    .apply(t, &body)
                    .unwrap_or_else(|e| panic!("client-side check failed: {e}"));
                seen(t, &body);
            }
            Err(_) if finished_at.is_some_and(|f| f.elapsed() > quiet) => break,
            Err(_) => {}
        }
    }
}
