//! Images of awkward sizes decode exactly in a real client, in every
//! lossless image compression.
//!
//! The demo host plays the `edges` scene (`--demo-scene edges`, see
//! `vdi/src/scripted/edges.rs`): a full-screen update, then 1x1 pixels,
//! 1xN and Nx1 lines up to the screen size, widths 1..=17, 31, 33, 63, 65
//! with odd heights, and 300 small rectangles in one frame. A live `spicy`
//! stays connected through all of it; at the end its window must hold the
//! server's picture (`ctl screendump`) pixel for pixel.

use std::time::Duration;

use spicebox_protocol::display::IMAGE_TYPE_BITMAP;
use spicebox_tests::harness::Server;
use spicebox_tests::live_client::{press_start_key, DrawRecorder, Drawn, LiveClient};

/// How long spicy may take to show the first picture.
const FIRST_PICTURE: Duration = Duration::from_secs(60);
/// How long the scene may take to play (about 33 steps at 30 fps).
const SCENE: Duration = Duration::from_secs(60);
/// How long spicy may take to show the final picture after the scene.
const SETTLE: Duration = Duration::from_secs(20);

/// Plays the scene with `--image-compression mode` and checks spicy's
/// final picture; with `record`, a test-client display channel watches the
/// scene too, and its DRAW_COPYs are returned.
fn edges_decode_exactly(mode: &str, record: bool) -> Option<Vec<Drawn>> {
    let server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--demo-scene",
        "edges",
        "--image-compression",
        mode,
    ]);
    let mut live = LiveClient::start(server.port(), &[])
        .unwrap_or_else(|e| panic!("{mode}: cannot run the live client: {e}"));
    let first = server.screendump();
    let at = live
        .wait_for(&first, FIRST_PICTURE)
        .unwrap_or_else(|e| panic!("{mode}: spicy never showed the frozen desktop: {e}"));
    let recorder = record.then(|| {
        DrawRecorder::start(server.addr(), 3 << 20)
            .unwrap_or_else(|e| panic!("{mode}: test client display: {e}"))
    });

    press_start_key(&server).unwrap_or_else(|e| panic!("{mode}: {e}"));
    let finished = server.wait_for_log(&["scene finished", "edges"], SCENE);
    assert!(
        !finished.is_empty(),
        "{mode}: the scene did not finish within {SCENE:?}"
    );
    let last = server.screendump();
    assert!(last != first, "{mode}: the scene changed nothing");

    live.assert_shows_at(&format!("edges-{mode}"), &last, at, SETTLE);
    let log = server.log_text();
    assert!(
        !log.contains("encoder failed"),
        "{mode}: an encoder fell back to bitmaps:\n{log}"
    );
    recorder.map(|r| {
        // Whatever the worker still sends after the last step is in by now:
        // spicy already shows the final picture.
        r.finish()
            .unwrap_or_else(|e| panic!("{mode}: test client display: {e}"))
    })
}

#[test]
fn edges_uncompressed() {
    edges_decode_exactly("off", false);
}

#[test]
fn edges_lz4() {
    edges_decode_exactly("lz4", false);
}

#[test]
fn edges_quic() {
    edges_decode_exactly("quic", false);
}

#[test]
fn edges_lz() {
    edges_decode_exactly("lz", false);
}

#[test]
fn edges_auto_lz() {
    edges_decode_exactly("auto_lz", false);
}

#[test]
fn edges_auto_glz() {
    edges_decode_exactly("auto_glz", false);
}

/// GLZ, and the sizes really went over the wire as separate images: a test
/// client display channel saw DRAW_COPYs of 1x1, 1xN, Nx1 and every odd
/// width of the scene (with odd heights).
#[test]
fn edges_glz_and_the_edge_sizes_were_sent() {
    let drawn = edges_decode_exactly("glz", true).expect("recorded draws");
    let sizes: Vec<(u32, u32)> = drawn.iter().map(|d| (d.width, d.height)).collect();
    let has = |pred: &dyn Fn(u32, u32) -> bool| sizes.iter().any(|&(w, h)| pred(w, h));
    let what = format!("{} draws: {sizes:?}", sizes.len());
    eprintln!("edges-glz: the test client got {what}");
    assert!(has(&|w, h| w == 1 && h == 1), "no 1x1 image; {what}");
    assert!(has(&|w, h| w == 1 && h > 1), "no 1xN image; {what}");
    assert!(has(&|w, h| w > 1 && h == 1), "no Nx1 image; {what}");
    for width in (3..=17).step_by(2).chain([31, 33, 63, 65]) {
        assert!(
            has(&|w, h| w == width && h % 2 == 1),
            "no image {width} wide with an odd height; {what}"
        );
    }
    // The test client has no LZ4 capability; GLZ needs none: everything
    // but the tiniest images (which may go as bitmaps) is compressed.
    let bitmaps = drawn
        .iter()
        .filter(|d| d.image_type == IMAGE_TYPE_BITMAP && d.width * d.height > 64)
        .count();
    assert_eq!(bitmaps, 0, "large images went uncompressed; {drawn:?}");
}
