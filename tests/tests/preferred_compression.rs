//! A client's PREFERRED_COMPRESSION (spice-gtk's `--spice-preferred-compression`)
//! wins over the server's mode for that client, until the server's mode is
//! changed at run time (`ctl set image-compression`), as with the
//! reference server; it survives a display worker restart.

use std::time::{Duration, Instant};

use spicebox_protocol::consts::msg::display_cli;
use spicebox_protocol::display::{
    parse_draw_copy, IMAGE_COMPRESSION_OFF, IMAGE_TYPE_BITMAP, IMAGE_TYPE_FROM_CACHE,
    IMAGE_TYPE_LZ_RGB,
};
use spicebox_tests::client::{consts::*, key_body, Channel, Session};
use spicebox_tests::harness::Server;

/// Bound on waiting for a draw after a key press.
const DRAW_TIMEOUT: Duration = Duration::from_secs(15);

/// Types a key and returns the image types of the draws that follow, once
/// at least one arrived and the channel went quiet.
fn draws_after_key(display: &mut Channel, inputs: &mut Channel, code: u32) -> Vec<u8> {
    inputs
        .send(MSGC_INPUTS_KEY_DOWN, &key_body(code))
        .expect("KEY_DOWN");
    inputs
        .send(MSGC_INPUTS_KEY_UP, &key_body(code | 0x80))
        .expect("KEY_UP");
    let deadline = Instant::now() + DRAW_TIMEOUT;
    let mut types = Vec::new();
    while Instant::now() < deadline {
        match display.recv(Duration::from_millis(500)) {
            Ok((t, body)) if t == MSG_DISPLAY_DRAW_COPY => {
                let d = parse_draw_copy(&body).expect("DRAW_COPY parses");
                types.push(d.image.image_type);
            }
            Ok(_) => {}
            Err(_) if !types.is_empty() => break,
            Err(_) => {}
        }
    }
    assert!(!types.is_empty(), "no draw after key {code:#x}");
    // Repeated content may come from the pixmap cache whatever the codec.
    types.retain(|&t| t != IMAGE_TYPE_FROM_CACHE);
    types
}

#[test]
fn client_preference_wins_until_the_server_mode_changes() {
    let server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--image-compression",
        "quic",
    ]);
    let session = Session::connect(server.addr(), "").expect("main channel");
    let mut display = session
        .open_display_server_codec(0)
        .expect("display channel");
    display
        .send(display_cli::PREFERRED_COMPRESSION, &[IMAGE_COMPRESSION_OFF])
        .expect("PREFERRED_COMPRESSION");
    let mut inputs = session.open_inputs().expect("inputs channel");
    // Let the first picture through, whatever it was encoded with.
    let _ = draws_after_key(&mut display, &mut inputs, 0x1e);

    let types = draws_after_key(&mut display, &mut inputs, 0x1f);
    assert!(
        types.iter().all(|&t| t == IMAGE_TYPE_BITMAP),
        "the client prefers no compression over the server's QUIC: {types:?}"
    );

    // A restarted worker keeps the preference.
    server.ctl_ok(&["restart-worker", "display"]);
    let _ = draws_after_key(&mut display, &mut inputs, 0x20);
    let types = draws_after_key(&mut display, &mut inputs, 0x21);
    assert!(
        types.iter().all(|&t| t == IMAGE_TYPE_BITMAP),
        "after a worker restart: {types:?}"
    );

    // The server's own change of mode takes over.
    server.ctl_ok(&["set", "image-compression", "lz"]);
    let types = draws_after_key(&mut display, &mut inputs, 0x22);
    assert!(
        types.iter().all(|&t| t == IMAGE_TYPE_LZ_RGB),
        "after ctl set image-compression lz: {types:?}"
    );
}
