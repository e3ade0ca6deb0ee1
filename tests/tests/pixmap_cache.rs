//! The pixmap cache, watched from the client side.
//!
//! The demo plays its `cache` scene (vdi/src/scripted/cache.rs): tile A, tile
//! B, tile A again elsewhere, 48 distinct 128x128 tiles, then ten early
//! tiles and eight late ones repainted elsewhere. The Rust test client
//! announces a cache far smaller than those tiles, keeps its cache the way
//! spice-gtk does and fails on anything a server must never do: reference
//! an id it does not hold, store beyond the announced size, or evict what
//! it does not have. Then:
//! - the second A goes as a cache reference, and so do the late tiles
//!   still held, while the early ones (evicted meanwhile) go out again;
//! - the client's own picture equals `ctl screendump`;
//!
//! The same scene through a real client: spicy, told the same small cache
//! (`--spice-cache-size`, in bytes), stays connected while it plays and
//! shows the final picture exactly: every reference it got named an image
//! it held (spice-gtk would otherwise wait forever for it).
//!
//! A third test types into the frozen demo's terminal with compression
//! off: the few-coloured text updates go as palettized bitmaps, the palette
//! cached at its first use and referenced afterwards.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use spicebox_protocol::display::{
    parse_draw_copy, ImagePayload, PaletteRef, BITMAP_FLAG_PAL_CACHE_ME, BITMAP_FMT_8BIT,
    IMAGE_FLAG_CACHE_ME, IMAGE_TYPE_FROM_CACHE,
};
use spicebox_tests::client::{
    consts::*, drain_until_quiet, key_body, wait_full_draw, ClientSurface, Session,
    MSG_DISPLAY_INVAL_ALL_PIXMAPS, MSG_DISPLAY_INVAL_LIST,
};
use spicebox_tests::harness::{assert_same_image, Server};
use spicebox_tests::live_client::{press_start_key, LiveClient};
use spicebox_tests::scene::play_scene;
use spicebox_vdi::scripted::cache::{
    repaint_position, tile_position, A_AGAIN_AT, REPAINTED_FIRST, REPAINTED_LAST, TILE, TILES,
};

/// Pixels the test client says it caches: room for about 24 of the 48
/// tiles (and too small for a full-screen image, which a server caches
/// only when it takes at most a quarter of the cache).
const CACHE_PIXELS: i64 = 400_000;
/// Bound on the scene's whole run (about 70 steps at 30 fps).
const SCENE_TIMEOUT: Duration = Duration::from_secs(60);
/// The display is taken as settled after this long without a message.
const QUIET: Duration = Duration::from_millis(600);

/// What one DRAW_COPY carried.
#[derive(Debug, Clone, Copy)]
struct Draw {
    image_type: u8,
    cache_me: bool,
}

#[test]
fn repeated_images_go_as_cache_references_within_the_client_size() {
    let server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--demo-scene",
        "cache",
        "--image-compression",
        "off",
    ]);
    let session = Session::connect(server.addr(), "").expect("main channel");
    let mut display = session
        .open_display_with_cache(0, CACHE_PIXELS)
        .expect("display channel");
    let mut inputs = session.open_inputs().expect("inputs channel");
    let mut surface = ClientSurface::with_cache(CACHE_PIXELS);
    wait_full_draw(&mut display, &mut surface, Duration::from_secs(20), 10_000)
        .unwrap_or_else(|e| panic!("first picture: {e}"));
    drain_until_quiet(&mut display, &mut surface, QUIET, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("settling before the scene: {e}"));

    // Every draw by its destination's top-left corner, latest last.
    let mut draws: HashMap<(i32, i32, u32), Vec<Draw>> = HashMap::new();
    let mut invals = 0usize;
    play_scene(
        &server,
        &mut inputs,
        &mut display,
        &mut surface,
        (QUIET, SCENE_TIMEOUT),
        |t, body| {
            if t == MSG_DISPLAY_INVAL_LIST {
                invals += 1;
            }
            if t == MSG_DISPLAY_DRAW_COPY {
                let d = parse_draw_copy(body).expect("DRAW_COPY parses");
                draws
                    .entry((d.dest.left, d.dest.top, d.dest.width()))
                    .or_default()
                    .push(Draw {
                        image_type: d.image.image_type,
                        cache_me: d.image.flags & IMAGE_FLAG_CACHE_ME != 0,
                    });
            }
        },
    );

    let last_at = |(x, y): (u32, u32), side: u32| -> Draw {
        *draws
            .get(&(x as i32, y as i32, side))
            .and_then(|v| v.last())
            .unwrap_or_else(|| {
                panic!("no draw of a {side}-pixel tile at ({x},{y}); draws: {draws:?}")
            })
    };
    let a_again = last_at(A_AGAIN_AT, spicebox_vdi::scripted::cache::SMALL_TILE);
    assert_eq!(
        a_again.image_type, IMAGE_TYPE_FROM_CACHE,
        "tile A painted a second time was sent again: {a_again:?}"
    );
    let first: Vec<Draw> = (0..TILES)
        .map(|i| draws[&(tile_position(i).0 as i32, tile_position(i).1 as i32, TILE)][0])
        .collect();
    assert!(
        first
            .iter()
            .all(|d| d.cache_me && d.image_type != IMAGE_TYPE_FROM_CACHE),
        "every new tile is sent once with CACHE_ME: {first:?}"
    );
    let repaint = |i: usize| last_at(repaint_position(i).expect("repainted"), TILE);
    let late_hits = REPAINTED_LAST
        .filter(|&i| repaint(i).image_type == IMAGE_TYPE_FROM_CACHE)
        .count();
    let early_resent = REPAINTED_FIRST
        .filter(|&i| repaint(i).image_type != IMAGE_TYPE_FROM_CACHE)
        .count();
    assert_eq!(
        late_hits,
        REPAINTED_LAST.len(),
        "late tiles still in the cache go as references"
    );
    assert_eq!(
        early_resent,
        REPAINTED_FIRST.len(),
        "early tiles were evicted to stay within {CACHE_PIXELS} pixels and go out again"
    );
    assert!(
        invals > 0 && surface.cache_evictions >= 10,
        "evictions were announced with INVAL_LIST ({invals} messages, {} ids)",
        surface.cache_evictions
    );
    assert!(surface.cache_used <= CACHE_PIXELS as u64);

    let mine = surface.image().expect("client surface");
    assert_same_image("test client vs screendump", &mine, &server.screendump());

    // A new display worker knows nothing of what the old one cached: the
    // client is told to drop everything, and then redrawn.
    server.ctl_ok(&["restart-worker", "display"]);
    let types = drain_until_quiet(
        &mut display,
        &mut surface,
        Duration::from_secs(2),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("redraw after the restart: {e}"));
    assert!(
        types.contains(&MSG_DISPLAY_INVAL_ALL_PIXMAPS) && types.contains(&MSG_DISPLAY_DRAW_COPY),
        "INVAL_ALL_PIXMAPS and a redraw after the restart: {types:?}"
    );
    assert_eq!(surface.cache_used, 0, "the client's cache was emptied");
    let mine = surface.image().expect("client surface");
    assert_same_image("after a restart", &mine, &server.screendump());
}

#[test]
fn typed_text_goes_palettized_with_its_palette_cached() {
    let server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--image-compression",
        "off",
    ]);
    let session = Session::connect(server.addr(), "").expect("main channel");
    let mut display = session.open_display(0).expect("display channel");
    let mut inputs = session.open_inputs().expect("inputs channel");
    let mut surface = ClientSurface::default();
    wait_full_draw(&mut display, &mut surface, Duration::from_secs(20), 10_000)
        .unwrap_or_else(|e| panic!("first picture: {e}"));

    let (mut stored, mut referenced) = (0usize, 0usize);
    // Letters a, s, d, f, g, h: each press changes a few cells of the
    // terminal's input line.
    for code in [0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23] {
        inputs
            .send(MSGC_INPUTS_KEY_DOWN, &key_body(code))
            .expect("KEY_DOWN");
        inputs
            .send(MSGC_INPUTS_KEY_UP, &key_body(code | 0x80))
            .expect("KEY_UP");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let Ok((t, body)) = display.recv(QUIET) else {
                break;
            };
            surface
                .apply(t, &body)
                .unwrap_or_else(|e| panic!("client-side check failed: {e}"));
            if t != MSG_DISPLAY_DRAW_COPY {
                continue;
            }
            let d = parse_draw_copy(&body).expect("DRAW_COPY parses");
            if let ImagePayload::Bitmap {
                format,
                flags,
                palette,
                ..
            } = d.image.payload
            {
                if format <= BITMAP_FMT_8BIT {
                    match palette {
                        PaletteRef::Offset(_) if flags & BITMAP_FLAG_PAL_CACHE_ME != 0 => {
                            stored += 1
                        }
                        PaletteRef::Cached(_) => referenced += 1,
                        _ => {}
                    }
                }
            }
        }
    }
    assert!(
        stored >= 1 && referenced >= 1,
        "palettized text updates: {stored} palettes stored, {referenced} referenced"
    );
    let mine = surface.image().expect("client surface");
    assert_same_image("test client vs screendump", &mine, &server.screendump());
}

#[test]
fn a_real_client_with_a_small_cache_shows_the_scene_exactly() {
    let server = Server::start(&[
        "--disable-ticketing",
        "--demo-freeze",
        "--demo-scene",
        "cache",
        "--image-compression",
        "auto_glz",
    ]);
    let cache_arg = format!("--spice-cache-size={}", CACHE_PIXELS * 4);
    let mut live = LiveClient::start(server.port(), &[&cache_arg])
        .unwrap_or_else(|e| panic!("cannot run the live client: {e}"));
    let at = live
        .wait_for(&server.screendump(), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("spicy never showed the frozen desktop: {e}"));
    press_start_key(&server).unwrap_or_else(|e| panic!("{e}"));
    let finished = server.wait_for_log(&["scene finished", "cache"], SCENE_TIMEOUT);
    assert!(!finished.is_empty(), "the scene did not finish");
    let last = server.screendump();
    live.assert_shows_at("cache-scene-final", &last, at, Duration::from_secs(30));
}
