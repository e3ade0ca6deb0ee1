//! Images with alpha: a framebuffer whose fourth byte is alpha (the demo's
//! `alpha` scene, vdi/src/scripted/alpha.rs) reaches clients on a 32-bit
//! ARGB primary surface, every image carrying its alpha.
//!
//! - The Rust test client, with compression off, gets RGBA bitmaps and
//!   ends with the scene's exact pixels, alpha included (which a real
//!   client cannot show): the repeated half-transparent tile comes from
//!   the pixmap cache, its opaque twin (same colour bytes) does not; after
//!   a display worker restart the surface stays ARGB and the redraw is
//!   still exact.
//! - A live spicy decodes the scene in every lossless mode (RGBA bitmaps,
//!   LZ4 RGBA, QUIC RGBA, LZ RGBA, GLZ RGBA and both auto modes) and shows
//!   the server's picture pixel for pixel (spice-gtk draws the primary as
//!   RGB, so the colours are compared; the alpha is checked above).
//! - With JPEG always on, the photographic tiles go as JPEG_ALPHA and the
//!   picture stays within the stated PSNR.

use std::time::{Duration, Instant};

use spicebox_protocol::display::{
    parse_draw_copy, ImagePayload, IMAGE_TYPE_BITMAP, IMAGE_TYPE_FROM_CACHE, IMAGE_TYPE_JPEG_ALPHA,
    SURFACE_FMT_32_ARGB,
};
use spicebox_tests::client::{
    consts::*, drain_until_quiet, wait_full_draw, ClientSurface, Session,
};
use spicebox_tests::harness::{assert_same_image, Server};
use spicebox_tests::image::{assert_psnr_at_least, psnr, Image};
use spicebox_tests::live_client::{crop, press_start_key, DrawRecorder, LiveClient};
use spicebox_tests::scene::play_scene;
use spicebox_vdi::scripted::alpha::{FLAT_AGAIN_AT, FLAT_OPAQUE_AT, FLAT_TILE, PHOTO_TILE};
use spicebox_vdi::scripted::Scene;

/// `SpiceBitmapFmt` RGBA.
const BITMAP_FMT_RGBA: u8 = 9;
/// Bound on the scene's run (13 steps at 30 fps) and its settling.
const SCENE: Duration = Duration::from_secs(60);
/// How long spicy may take to show the first picture.
const FIRST_PICTURE: Duration = Duration::from_secs(60);
/// How long spicy may take to show the final picture after the scene.
const SETTLE: Duration = Duration::from_secs(20);
/// The display is taken as settled after this long without a message.
const QUIET: Duration = Duration::from_millis(600);
/// JPEG at quality 85 keeps smooth content (the scene's photographic tile)
/// above this. Forced on everything, it does much worse on the scene's
/// per-pixel noise and saturated 1-pixel glyph strokes (12-27 dB there, as
/// any JPEG would), so those areas are not held to it.
const MIN_JPEG_PSNR_DB: f64 = 35.0;

fn start(mode: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "--disable-ticketing",
        "--demo-freeze",
        "--demo-scene",
        "alpha",
        "--image-compression",
        mode,
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// The scene's final picture as B,G,R,A rows, played from the frozen
/// desktop the server showed first.
fn expected_final(first: &Image) -> Vec<u8> {
    let bgrx: Vec<u8> = first
        .rgb
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0], 0])
        .collect();
    let mut scene =
        Scene::new("alpha", first.width, first.height, &bgrx).expect("the scene fits the demo");
    while scene.step().is_some() {}
    scene.frame().to_vec()
}

#[test]
fn alpha_reaches_the_test_client_exactly_and_survives_a_worker_restart() {
    let server = start("off", &[]);
    let first = server.screendump();
    let session = Session::connect(server.addr(), "").expect("main channel");
    let mut display = session.open_display(0).expect("display channel");
    let mut inputs = session.open_inputs().expect("inputs channel");
    let mut surface = ClientSurface::default();
    wait_full_draw(&mut display, &mut surface, Duration::from_secs(20), 10_000)
        .unwrap_or_else(|e| panic!("first picture: {e}"));
    assert_eq!(surface.format, SURFACE_FMT_32_ARGB, "the primary is ARGB");
    drain_until_quiet(&mut display, &mut surface, QUIET, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("settling before the scene: {e}"));
    assert!(
        surface.alpha.iter().all(|&a| a == 0xff),
        "the frozen desktop is shown opaque"
    );

    // The last draw at each destination corner: (x, y, width) -> type.
    let mut last_type = std::collections::HashMap::new();
    let mut formats = std::collections::BTreeSet::new();
    play_scene(
        &server,
        &mut inputs,
        &mut display,
        &mut surface,
        (QUIET, SCENE),
        |t, body| {
            if t == MSG_DISPLAY_DRAW_COPY {
                let d = parse_draw_copy(body).expect("DRAW_COPY parses");
                last_type.insert(
                    (d.dest.left, d.dest.top, d.dest.width()),
                    d.image.image_type,
                );
                if let ImagePayload::Bitmap { format, .. } = d.image.payload {
                    formats.insert(format);
                }
            }
        },
    );
    assert_eq!(
        formats.into_iter().collect::<Vec<_>>(),
        vec![BITMAP_FMT_RGBA],
        "every bitmap of an ARGB surface is RGBA"
    );
    let type_at = |(x, y): (u32, u32)| {
        last_type
            .get(&(x as i32, y as i32, FLAT_TILE))
            .copied()
            .unwrap_or_else(|| panic!("no draw at ({x},{y}): {last_type:?}"))
    };
    assert_eq!(
        type_at(FLAT_AGAIN_AT),
        IMAGE_TYPE_FROM_CACHE,
        "the repeated translucent tile is a cache reference"
    );
    assert_eq!(
        type_at(FLAT_OPAQUE_AT),
        IMAGE_TYPE_BITMAP,
        "its opaque twin has the same colour bytes but is another image"
    );

    let want = expected_final(&first);
    let check = |label: &str, surface: &ClientSurface| {
        let got_alpha = &surface.alpha;
        let want_alpha: Vec<u8> = want.chunks_exact(4).map(|p| p[3]).collect();
        let differing = got_alpha
            .iter()
            .zip(&want_alpha)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing, 0,
            "{label}: {differing} pixels with another alpha"
        );
        let want_rgb = Image {
            width: first.width,
            height: first.height,
            rgb: want
                .chunks_exact(4)
                .flat_map(|p| [p[2], p[1], p[0]])
                .collect(),
        };
        let mine = surface.image().expect("client surface");
        assert_same_image(label, &want_rgb, &mine);
        assert_same_image(label, &want_rgb, &server.screendump());
    };
    check("alpha scene", &surface);

    // A new worker must recreate nothing: the client's ARGB surface stays,
    // and the redraw brings back every alpha byte.
    server.ctl_ok(&["restart-worker", "display"]);
    let types = drain_until_quiet(
        &mut display,
        &mut surface,
        Duration::from_secs(2),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("redraw after the restart: {e}"));
    assert!(
        types.contains(&MSG_DISPLAY_DRAW_COPY) && !types.contains(&MSG_DISPLAY_SURFACE_CREATE),
        "a redraw on the same surface after the restart: {types:?}"
    );
    check("after a worker restart", &surface);
}

/// Plays the scene with `--image-compression mode` under a live spicy and
/// checks its final picture exactly; returns the image types a test
/// client saw while the scene played.
fn alpha_decodes_exactly(mode: &str) -> Vec<u8> {
    let server = start(mode, &[]);
    let mut live = LiveClient::start(server.port(), &[])
        .unwrap_or_else(|e| panic!("{mode}: cannot run the live client: {e}"));
    let first = server.screendump();
    let at = live
        .wait_for(&first, FIRST_PICTURE)
        .unwrap_or_else(|e| panic!("{mode}: spicy never showed the frozen desktop: {e}"));
    let recorder = DrawRecorder::start(server.addr(), 3 << 20)
        .unwrap_or_else(|e| panic!("{mode}: test client display: {e}"));
    press_start_key(&server).unwrap_or_else(|e| panic!("{mode}: {e}"));
    let finished = server.wait_for_log(&["scene finished", "alpha"], SCENE);
    assert!(!finished.is_empty(), "{mode}: the scene did not finish");
    let last = server.screendump();
    assert!(last != first, "{mode}: the scene changed nothing");
    live.assert_shows_at(&format!("alpha-{mode}"), &last, at, SETTLE);
    let log = server.log_text();
    assert!(
        !log.contains("encoder failed"),
        "{mode}: an encoder fell back to bitmaps:\n{log}"
    );
    let drawn = recorder
        .finish()
        .unwrap_or_else(|e| panic!("{mode}: test client display: {e}"));
    drawn.iter().map(|d| d.image_type).collect()
}

#[test]
fn alpha_uncompressed_through_spicy() {
    alpha_decodes_exactly("off");
}

#[test]
fn alpha_lz4_through_spicy() {
    alpha_decodes_exactly("lz4");
}

#[test]
fn alpha_quic_through_spicy() {
    alpha_decodes_exactly("quic");
}

#[test]
fn alpha_lz_through_spicy() {
    alpha_decodes_exactly("lz");
}

#[test]
fn alpha_glz_through_spicy() {
    alpha_decodes_exactly("glz");
}

#[test]
fn alpha_auto_lz_through_spicy() {
    alpha_decodes_exactly("auto_lz");
}

#[test]
fn alpha_auto_glz_through_spicy() {
    alpha_decodes_exactly("auto_glz");
}

/// The photographic tile of a picture.
fn photo(picture: &Image) -> Image {
    let (x, y, w, h) = PHOTO_TILE;
    crop(picture, (x, y), (w, h)).expect("the photo tile is on the screen")
}

/// JPEG always (in place of QUIC): images go as JPEG_ALPHA (colours lossy,
/// alpha exact) and spicy's picture of smooth content stays close to the
/// server's.
#[test]
fn alpha_jpeg_through_spicy_is_close() {
    let mode = "jpeg-alpha";
    // Exact first (JPEG replaces QUIC only), to find spicy's picture on
    // the screen; then QUIC, which JPEG replaces, for the scene.
    let server = start("off", &["--jpeg-wan-compression", "always"]);
    let mut live = LiveClient::start(server.port(), &[])
        .unwrap_or_else(|e| panic!("{mode}: cannot run the live client: {e}"));
    let first = server.screendump();
    let size = (first.width, first.height);
    let at = live
        .wait_for(&first, FIRST_PICTURE)
        .unwrap_or_else(|e| panic!("{mode}: spicy never showed the frozen desktop: {e}"));
    server.ctl_ok(&["set", "image-compression", "quic"]);
    let recorder = DrawRecorder::start(server.addr(), 3 << 20)
        .unwrap_or_else(|e| panic!("{mode}: test client display: {e}"));
    press_start_key(&server).unwrap_or_else(|e| panic!("{mode}: {e}"));
    let finished = server.wait_for_log(&["scene finished", "alpha"], SCENE);
    assert!(!finished.is_empty(), "{mode}: the scene did not finish");
    let last = server.screendump();
    // Lossy, so not an exact match to wait for: the picture is final once
    // it is as close as JPEG gets, or at the deadline.
    let deadline = Instant::now() + SETTLE;
    let shown = loop {
        let capture = live
            .capture()
            .unwrap_or_else(|e| panic!("{mode}: capture: {e}"));
        let shown = crop(&capture, at, size)
            .unwrap_or_else(|| panic!("{mode}: the capture is smaller than the screen"));
        if Instant::now() >= deadline
            || psnr(&photo(&last), &photo(&shown)).is_some_and(|db| db >= MIN_JPEG_PSNR_DB)
        {
            break shown;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let flat = |i: &Image| {
        crop(i, FLAT_AGAIN_AT, (FLAT_TILE, FLAT_TILE)).expect("the flat tile is on the screen")
    };
    eprintln!(
        "{mode}: PSNR photographic tile {:.1} dB, flat tile {:.1} dB, whole screen {:.1} dB",
        psnr(&photo(&last), &photo(&shown)).unwrap_or(f64::NAN),
        psnr(&flat(&last), &flat(&shown)).unwrap_or(f64::NAN),
        psnr(&last, &shown).unwrap_or(f64::NAN),
    );
    assert_psnr_at_least(
        &format!("{mode} photographic tile"),
        &photo(&last),
        &photo(&shown),
        MIN_JPEG_PSNR_DB,
    );
    assert_psnr_at_least(
        &format!("{mode} flat tile"),
        &flat(&last),
        &flat(&shown),
        MIN_JPEG_PSNR_DB,
    );
    let types: Vec<u8> = recorder
        .finish()
        .unwrap_or_else(|e| panic!("{mode}: test client display: {e}"))
        .iter()
        .map(|d| d.image_type)
        .collect();
    assert!(
        types.contains(&IMAGE_TYPE_JPEG_ALPHA),
        "{mode}: no JPEG_ALPHA ({IMAGE_TYPE_JPEG_ALPHA}) image among {types:?}"
    );
}
