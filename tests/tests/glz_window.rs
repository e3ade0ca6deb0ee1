//! GLZ through a small dictionary window: the real client decodes a
//! sequence many times longer than its window exactly.
//!
//! The demo host plays `glz-slide` (`vdi/src/scripted/glz_slide.rs`): 40
//! full screens, each mostly the previous one scrolled, the last one going
//! back to the first page (long gone from the window). spicy is told a GLZ
//! window of 2.5 screens (`--spice-glz-window-size`, in bytes; it announces
//! bytes / 4 pixels in DISPLAY_INIT), so the server's dictionary for it
//! must keep sliding: an image that names an image the client already
//! dropped would decode wrong or not at all.
//!
//! The server does not log its GLZ window, so a test-client display channel
//! announcing the same window watches the GLZ headers its own encoder
//! writes (same code as spicy's): image ids and `win_head_dist`, the
//! distance to the oldest image the client must still hold.

use std::time::Duration;

use spicebox_protocol::display::IMAGE_TYPE_GLZ_RGB;
use spicebox_tests::harness::Server;
use spicebox_tests::live_client::{press_start_key, DrawRecorder, Drawn, LiveClient};
use spicebox_vdi::scripted::glz_slide::FRAMES;

/// The demo's default screen.
const SCREEN_PIXELS: u64 = 1280 * 800;
/// 2.5 screens: each full-screen image may refer to the one before it,
/// never to two before.
const WINDOW_PIXELS: u64 = SCREEN_PIXELS * 5 / 2;

/// A server about to play `glz-slide` in glz mode, spicy showing its frozen
/// desktop at `at` with the small window, and a test-client display channel
/// announcing the same window, recording the GLZ headers.
struct Setup {
    server: Server,
    live: LiveClient,
    at: (u32, u32),
    recorder: DrawRecorder,
}

fn start_glz_slide() -> Setup {
    let server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--demo-scene",
        "glz-slide",
        "--image-compression",
        "glz",
    ]);
    let window_arg = format!("--spice-glz-window-size={}", WINDOW_PIXELS * 4);
    let mut live = LiveClient::start(server.port(), &[&window_arg])
        .unwrap_or_else(|e| panic!("cannot run the live client: {e}"));
    let at = live
        .wait_for(&server.screendump(), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("spicy never showed the frozen desktop: {e}"));
    let window = i32::try_from(WINDOW_PIXELS).expect("window fits i32");
    let recorder = DrawRecorder::start(server.addr(), window)
        .unwrap_or_else(|e| panic!("test client display: {e}"));
    Setup {
        server,
        live,
        at,
        recorder,
    }
}

#[test]
fn glz_window_slides_and_the_client_decodes_every_frame() {
    let Setup {
        server,
        mut live,
        at,
        recorder,
    } = start_glz_slide();

    press_start_key(&server).unwrap_or_else(|e| panic!("{e}"));
    let finished = server.wait_for_log(&["scene finished", "glz-slide"], Duration::from_secs(90));
    assert!(!finished.is_empty(), "the scene did not finish");
    let last = server.screendump();
    live.assert_shows_at("glz-slide-final", &last, at, Duration::from_secs(30));
    let log = server.log_text();
    assert!(
        !log.contains("encoder failed"),
        "GLZ fell back to bitmaps:\n{log}"
    );

    let drawn = recorder
        .finish()
        .unwrap_or_else(|e| panic!("test client display: {e}"));
    check_the_window_slid(&drawn);
}

/// The GLZ headers the test client received show a dictionary that kept
/// dropping old images.
fn check_the_window_slid(drawn: &[Drawn]) {
    let glz: Vec<(u64, u32, &Drawn)> = drawn
        .iter()
        .filter(|d| d.image_type == IMAGE_TYPE_GLZ_RGB)
        .filter_map(|d| d.glz.map(|(id, dist)| (id, dist, d)))
        .collect();
    let summary: Vec<(u64, u32, usize)> = glz
        .iter()
        .map(|(id, dist, d)| (*id, *dist, d.bytes))
        .collect();
    eprintln!("glz-slide: (image id, win_head_dist, DRAW_COPY bytes): {summary:?}");
    // Every draw but tiny ones is GLZ; frames may merge when the client
    // lags, but most arrive on their own.
    assert!(
        glz.len() > FRAMES / 2,
        "only {} GLZ images: {drawn:?}",
        glz.len()
    );
    for pair in glz.windows(2) {
        assert_eq!(
            pair[1].0,
            pair[0].0 + 1,
            "GLZ image ids are not consecutive: {summary:?}"
        );
    }
    let pixels: u64 = glz
        .iter()
        .map(|(_, _, d)| u64::from(d.width) * u64::from(d.height))
        .sum();
    assert!(
        pixels >= 10 * WINDOW_PIXELS,
        "{pixels} pixels sent: not much longer than the {WINDOW_PIXELS}-pixel window"
    );
    for (id, dist, d) in &glz {
        let held = (u64::from(*dist) + 1) * u64::from(d.width) * u64::from(d.height);
        assert!(
            held <= WINDOW_PIXELS || *dist == 0,
            "image {id} keeps {dist} earlier images: more than the window holds"
        );
    }
    // References into earlier images: the first scene frame shares nothing
    // with the desktop before it, each scrolled frame is mostly the frame
    // before it, so those cost little more than their band of noise.
    let mut scrolled: Vec<usize> = glz[2..glz.len() - 1].iter().map(|g| g.2.bytes).collect();
    scrolled.sort_unstable();
    let median = scrolled.get(scrolled.len() / 2).copied().unwrap_or(0);
    assert!(
        median * 2 < glz[1].2.bytes,
        "scrolled frames ({median} bytes) are not much smaller than a fresh one ({}): \
         no references into the window? {summary:?}",
        glz[1].2.bytes
    );
    // The oldest image the client must keep moved far from the first one.
    let (last_id, last_dist, _) = glz.last().expect("GLZ images");
    assert!(
        last_id - u64::from(*last_dist) >= (FRAMES / 2) as u64,
        "the window never slid: {summary:?}"
    );
}

/// A display worker restarted in the middle of the sequence continues GLZ
/// for the same client: the new worker's ids continue the old ones with a
/// fresh dictionary whose first image releases the old window, and the
/// real client still decodes every later frame exactly.
#[test]
fn glz_continues_across_a_worker_restart() {
    let Setup {
        server,
        mut live,
        at,
        recorder,
    } = start_glz_slide();

    press_start_key(&server).unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_millis(400));
    server.ctl_ok(&["restart-worker", "display"]);
    let finished = server.wait_for_log(&["scene finished", "glz-slide"], Duration::from_secs(90));
    assert!(!finished.is_empty(), "the scene did not finish");
    let last = server.screendump();
    live.assert_shows_at("glz-after-restart", &last, at, Duration::from_secs(30));

    let drawn = recorder
        .finish()
        .unwrap_or_else(|e| panic!("test client display: {e}"));
    let ids: Vec<(u64, u32)> = drawn.iter().filter_map(|d| d.glz).collect();
    assert!(
        ids.windows(2).all(|p| p[1].0 == p[0].0 + 1),
        "GLZ ids run on without a gap across the restart (spice-gtk frees its \
         window only over contiguous ids): {ids:?}"
    );
    let restart = ids
        .iter()
        .skip(1)
        .position(|&(_, dist)| dist == 0)
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no image starting a new dictionary after the first: {ids:?}"));
    assert!(
        ids.len() > restart + 1,
        "GLZ goes on after the restart: {ids:?}"
    );
}
