//! The scenes: what each step paints and reports, determinism, layout
//! rules, and the host playing a scene through a real shared region.

use std::time::{Duration, Instant};

use spicebox_ipc::{socket_pair, split_sync, FromHost, InputEvent, ToHost};
use spicebox_shm::{
    create_region, Consumer, Doorbell, Event, PixelFormat, Producer, Rect, ShmLayout,
};

use super::{alpha, cache, check, edges, glz_slide, Scene, SceneError, SCENES};
use crate::draw::geom::{area, intersect, union};
use crate::{run, DemoOptions, VdiError};

const W: u32 = 1280;
const H: u32 = 800;

/// The display worker's merge rule (workers/display/src/damage.rs): two
/// pending rectangles are joined when their bounding box wastes at most
/// 64x64 pixels.
fn worker_would_merge(a: &Rect, b: &Rect) -> bool {
    area(&union(a, b)) <= area(a) + area(b) + 64 * 64
}

/// Pixels between two rectangles: the larger of the horizontal and
/// vertical gaps (0 when they touch or overlap).
fn gap(a: &Rect, b: &Rect) -> u32 {
    let gx =
        b.x.saturating_sub(a.x + a.width)
            .max(a.x.saturating_sub(b.x + b.width));
    let gy =
        b.y.saturating_sub(a.y + a.height)
            .max(a.y.saturating_sub(b.y + b.height));
    gx.max(gy)
}

/// A background no scene paints (so every painted pixel shows as changed
/// unless the content is exactly this grey).
fn start_picture() -> Vec<u8> {
    [0x42u8, 0x42, 0x42, 0].repeat((W * H) as usize)
}

fn scene(name: &str) -> Scene {
    Scene::new(name, W, H, &start_picture()).expect("scene fits 1280x800")
}

fn inside(r: &Rect, x: u32, y: u32) -> bool {
    x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height
}

/// Plays every step, checking that each one changes pixels only inside the
/// rectangles it reports, and that those lie on the screen. Returns each
/// step's rectangles.
fn play_checking_damage(s: &mut Scene) -> Vec<Vec<Rect>> {
    let mut all = Vec::new();
    let mut before = s.frame().to_vec();
    while let Some(rects) = s.step() {
        assert!(!rects.is_empty(), "step {} reports nothing", all.len());
        for r in &rects {
            assert!(r.fits_in(W, H), "step {}: {r:?} off screen", all.len());
        }
        let changed = changed_pixels(&before, s.frame());
        assert!(changed > 0, "step {} changed nothing", all.len());
        for (i, (old, new)) in before
            .chunks_exact(4)
            .zip(s.frame().chunks_exact(4))
            .enumerate()
        {
            if old != new {
                let (x, y) = (i as u32 % W, i as u32 / W);
                assert!(
                    rects.iter().any(|r| inside(r, x, y)),
                    "step {}: pixel {x},{y} changed outside {rects:?}",
                    all.len()
                );
            }
        }
        before.copy_from_slice(s.frame());
        all.push(rects);
    }
    all
}

fn changed_pixels(a: &[u8], b: &[u8]) -> usize {
    a.chunks_exact(4)
        .zip(b.chunks_exact(4))
        .filter(|(x, y)| x != y)
        .count()
}

fn pixels_of(frame: &[u8], r: &Rect) -> Vec<u8> {
    let mut out = Vec::new();
    for y in r.y..r.y + r.height {
        let start = ((y * W + r.x) * 4) as usize;
        out.extend_from_slice(&frame[start..start + r.width as usize * 4]);
    }
    out
}

#[test]
fn names_are_checked_and_small_screens_refused() {
    for name in SCENES {
        assert_eq!(check(name, W, H), Ok(()), "{name}");
    }
    assert_eq!(check("edge", W, H), Err(SceneError::Unknown("edge".into())));
    assert!(matches!(
        check("cache", 640, 400),
        Err(SceneError::DoesNotFit { scene: "cache", .. })
    ));
    assert!(matches!(
        check("edges", 320, 200),
        Err(SceneError::DoesNotFit { scene: "edges", .. })
    ));
    assert_eq!(check("glz-slide", 320, 200), Ok(()));
    let opts = DemoOptions {
        scene: Some("nope".into()),
        ..DemoOptions::default()
    };
    let err = opts.validate().expect_err("unknown scene");
    assert!(
        err.to_string().contains("unknown demo scene \"nope\""),
        "{err}"
    );
}

#[test]
fn every_scene_reports_what_it_paints_and_finishes() {
    for name in SCENES {
        let mut s = scene(name);
        let steps = s.steps();
        let rects = play_checking_damage(&mut s);
        assert_eq!(rects.len(), steps, "{name}");
        assert_eq!(s.played(), steps, "{name}");
        assert!(s.step().is_none(), "{name} goes on after its last step");
        assert_eq!(s.name(), name);
    }
}

#[test]
fn scenes_are_deterministic() {
    for name in SCENES {
        let (mut a, mut b) = (scene(name), scene(name));
        while let Some(ra) = a.step() {
            assert_eq!(Some(ra), b.step(), "{name}");
            assert!(
                a.frame() == b.frame(),
                "{name}: step {} differs",
                a.played()
            );
        }
        assert!(b.step().is_none());
    }
}

#[test]
fn edges_has_every_size_and_keeps_them_all_visible() {
    let mut s = scene("edges");
    let steps = play_checking_damage(&mut s);
    let single = |i: usize| -> Rect {
        assert_eq!(steps[i].len(), 1, "step {i} paints one tile");
        steps[i][0]
    };
    // Full screen first, many small updates last.
    assert_eq!(
        single(0),
        Rect {
            x: 0,
            y: 0,
            width: W,
            height: H
        }
    );
    let last = steps.last().expect("steps");
    assert_eq!(last.len(), edges::SMALL_UPDATES);
    assert!(last
        .iter()
        .all(|r| (2..=9).contains(&r.width) && (2..=9).contains(&r.height)));
    let tiles: Vec<Rect> = (1..steps.len() - 1).map(single).collect();
    let has = |w: u32, h: u32| tiles.iter().any(|r| r.width == w && r.height == h);
    assert!(
        tiles
            .iter()
            .filter(|r| r.width == 1 && r.height == 1)
            .count()
            >= 3
    );
    assert!(has(1, H) && has(W, 1), "full-length lines");
    assert!(tiles
        .iter()
        .any(|r| r.width == 1 && r.height > 1 && r.height < H));
    assert!(tiles
        .iter()
        .any(|r| r.height == 1 && r.width > 1 && r.width < W));
    for w in (1..=17).chain([31, 33, 63, 65]) {
        assert!(
            tiles
                .iter()
                .any(|r| r.width == w && r.height % 2 == 1 && r.height > 1),
            "no tile {w} wide with an odd height"
        );
    }
    // Every tile is still there, pixel for pixel, at the end (but the one
    // pixel where the two full-length lines cross).
    let fresh = Scene::new("edges", W, H, &start_picture()).expect("edges");
    let super::Script::Plan(plan) = fresh.script else {
        panic!("edges is a plan");
    };
    for (i, step) in plan.iter().enumerate().skip(1).take(tiles.len()) {
        let p = step[0];
        let want = p.render();
        let got = pixels_of(s.frame(), &p.rect);
        let differing = want
            .chunks_exact(4)
            .zip(got.chunks_exact(4))
            .filter(|(a, b)| a != b)
            .count();
        let allowed = usize::from(p.rect.width == W || p.rect.height == H);
        assert!(
            differing <= allowed,
            "tile of step {i} {:?}: {differing} pixels lost",
            p.rect
        );
    }
}

#[test]
fn edges_tiles_stay_apart() {
    let mut s = scene("edges");
    let steps = play_checking_damage(&mut s);
    let tiles: Vec<Rect> = steps[1..steps.len() - 1].iter().map(|v| v[0]).collect();
    for (i, a) in tiles.iter().enumerate() {
        for (j, b) in tiles.iter().enumerate().skip(i + 1) {
            let lines = [a, b].iter().all(|r| r.width == W || r.height == H);
            if !lines {
                assert!(
                    gap(a, b) >= edges::GAP,
                    "tiles {a:?} and {b:?} are too close"
                );
            }
            if j - i < edges::SEPARATED_STEPS {
                assert!(!worker_would_merge(a, b), "{a:?} and {b:?} would merge");
            }
        }
    }
}

#[test]
fn cache_follows_its_plan() {
    let plan = cache::plan();
    assert_eq!(plan.len(), cache::STEPS);
    assert_eq!(plan[0], (cache::CacheTile::A, (100, 100)));
    assert_eq!(plan[1], (cache::CacheTile::B, (300, 100)));
    assert_eq!(plan[2], (cache::CacheTile::A, (500, 100)));
    let order: Vec<cache::CacheTile> = plan.iter().map(|p| p.0).collect();
    let expected: Vec<cache::CacheTile> = (0..48)
        .chain(0..10)
        .chain(40..48)
        .map(cache::CacheTile::T)
        .collect();
    assert_eq!(order[3..], expected[..]);

    let mut s = scene("cache");
    let steps = play_checking_damage(&mut s);
    let rects: Vec<Rect> = steps.iter().map(|v| v[0]).collect();
    // The first paintings of T0..T47: on screen, none overlapping.
    let firsts = &rects[3..3 + cache::TILES];
    for (i, a) in firsts.iter().enumerate() {
        assert_eq!((a.x, a.y), cache::tile_position(i));
        for b in &firsts[i + 1..] {
            assert!(intersect(a, b).is_none(), "{a:?} overlaps {b:?}");
        }
    }
    // Steps one or two apart are far apart.
    for (i, a) in rects.iter().enumerate() {
        for b in rects.iter().skip(i + 1).take(2) {
            assert!(gap(a, b) >= cache::CONSECUTIVE_GAP, "{a:?} and {b:?}");
            assert!(!worker_would_merge(a, b), "{a:?} and {b:?} would merge");
        }
    }
    for i in cache::REPAINTED_FIRST.chain(cache::REPAINTED_LAST) {
        assert_ne!(cache::repaint_position(i), Some(cache::tile_position(i)));
    }
    assert_eq!(cache::repaint_position(20), None);
}

#[test]
fn cache_repaints_identical_pixels_and_tiles_differ() {
    let mut s = scene("cache");
    s.step();
    let a = rect_at(cache::A_AT, cache::SMALL_TILE);
    let first_a = pixels_of(s.frame(), &a);
    s.step();
    s.step();
    let again = pixels_of(s.frame(), &rect_at(cache::A_AGAIN_AT, cache::SMALL_TILE));
    assert!(first_a == again, "tile A differs the second time");
    let b = pixels_of(s.frame(), &rect_at(cache::B_AT, cache::SMALL_TILE));
    assert!(first_a != b);
    // T0..T47 are pairwise different, and a repaint equals the first one.
    let ts: Vec<Vec<u8>> = (0..cache::TILES)
        .map(|i| {
            cache::CacheTile::T(i)
                .fill()
                .render(cache::TILE, cache::TILE)
        })
        .collect();
    for (i, a) in ts.iter().enumerate() {
        assert!(ts[i + 1..].iter().all(|b| a != b), "tile T{i} repeats");
    }
    while s.played() < 3 + cache::TILES + 1 {
        s.step();
    }
    let t0 = rect_at(
        cache::repaint_position(0).expect("T0 is repainted"),
        cache::TILE,
    );
    let mut first = scene("cache");
    for _ in 0..4 {
        first.step();
    }
    let t0_first = pixels_of(
        first.frame(),
        &rect_at(cache::tile_position(0), cache::TILE),
    );
    assert!(
        pixels_of(s.frame(), &t0) == t0_first,
        "T0 repainted differently"
    );
}

fn rect_at((x, y): (u32, u32), side: u32) -> Rect {
    Rect {
        x,
        y,
        width: side,
        height: side,
    }
}

#[test]
fn glz_slide_frames_share_most_content_and_end_distinctly() {
    let mut s = scene("glz-slide");
    let mut frames = Vec::new();
    while let Some(rects) = s.step() {
        assert_eq!(
            rects,
            vec![Rect {
                x: 0,
                y: 0,
                width: W,
                height: H
            }]
        );
        frames.push(s.frame().to_vec());
    }
    assert_eq!(frames.len(), glz_slide::FRAMES);
    let row = |f: &[u8], y: u32| f[(y * W * 4) as usize..((y + 1) * W * 4) as usize].to_vec();
    let band = H * 2 / 3..H * 2 / 3 + glz_slide::BAND_HEIGHT;
    for k in 1..frames.len() - 1 {
        // Row y of frame k is row y + SCROLL of frame k - 1, outside the band.
        let same = (0..H - glz_slide::SCROLL)
            .filter(|y| !band.contains(y) && !band.contains(&(y + glz_slide::SCROLL)))
            .filter(|&y| row(&frames[k], y) == row(&frames[k - 1], y + glz_slide::SCROLL))
            .count() as u32;
        assert!(
            same >= H - glz_slide::SCROLL - 2 * glz_slide::BAND_HEIGHT,
            "frame {k}: {same}"
        );
        // ... and the frames really differ.
        assert!(changed_pixels(&frames[k], &frames[k - 1]) > (W * H / 4) as usize);
    }
    let last = frames.last().expect("frames");
    for (k, f) in frames[..frames.len() - 1].iter().enumerate() {
        assert!(
            changed_pixels(f, last) > 10_000,
            "the last frame is like frame {k}"
        );
    }
    // Far more than a window of a few screens.
    assert!(frames.len() as u64 * u64::from(W * H) > 10 * 3 * u64::from(W * H));
}

/// The host waits for a key press, then publishes each step's rectangles
/// in order and nothing else.
#[test]
fn the_host_plays_a_scene_after_the_first_key_press() {
    let region = create_region(&ShmLayout {
        max_width: W,
        max_height: H,
        ring_records: 512,
    })
    .expect("region");
    let producer = Producer::open(region.try_clone().expect("dup")).expect("producer");
    let mut consumer = Consumer::open(region).expect("consumer");
    let doorbell = Doorbell::new().expect("doorbell");
    let (host_end, supervisor_end) = socket_pair().expect("socket pair");
    let (host_tx, host_rx) = split_sync::<FromHost, ToHost>(host_end);
    let (mut sup_tx, mut sup_rx) = split_sync::<ToHost, FromHost>(supervisor_end);
    let opts = DemoOptions {
        fps: 240,
        scene: Some("cache".into()),
        ..DemoOptions::default()
    };
    let host = std::thread::spawn(move || run(opts, producer, doorbell, host_tx, host_rx));
    assert_eq!(
        sup_rx.recv().expect("leds"),
        FromHost::Leds { modifiers: 0 }
    );

    let damage = |consumer: &mut Consumer, events: &mut Vec<Event>| -> Vec<Rect> {
        events.clear();
        consumer.drain(events).expect("drain");
        events
            .iter()
            .filter_map(|e| match e {
                Event::Damage(r) => Some(*r),
                _ => None,
            })
            .collect()
    };
    let mut events = Vec::new();
    assert_eq!(
        damage(&mut consumer, &mut events),
        vec![Rect {
            x: 0,
            y: 0,
            width: W,
            height: H
        }]
    );
    // Input other than a key press does not start it, nor change anything.
    for event in [
        InputEvent::PointerMotion { dx: 3, dy: 4 },
        InputEvent::Key {
            code: 0x1e,
            pressed: false,
        },
        InputEvent::LockState { modifiers: 4 },
    ] {
        sup_tx
            .send(&ToHost::Input {
                session_id: 1,
                event,
            })
            .expect("send");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(damage(&mut consumer, &mut events).is_empty());

    let key = InputEvent::Key {
        code: 0x1e,
        pressed: true,
    };
    sup_tx
        .send(&ToHost::Input {
            session_id: 1,
            event: key,
        })
        .expect("send");
    let expected: Vec<Rect> = super::cache::steps().iter().map(|s| s[0].rect).collect();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < expected.len() && Instant::now() < deadline {
        got.extend(damage(&mut consumer, &mut events));
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(100));
    got.extend(damage(&mut consumer, &mut events));
    assert_eq!(got, expected);

    drop(sup_tx);
    drop(sup_rx);
    let result = host.join().expect("host thread");
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn the_host_refuses_an_unknown_scene() {
    let region = create_region(&ShmLayout::default()).expect("region");
    let producer = Producer::open(region).expect("producer");
    let (host_end, _supervisor_end) = socket_pair().expect("socket pair");
    let (tx, rx) = split_sync::<FromHost, ToHost>(host_end);
    let opts = DemoOptions {
        scene: Some("nope".into()),
        ..DemoOptions::default()
    };
    let result = run(opts, producer, Doorbell::new().expect("doorbell"), tx, rx);
    assert!(
        matches!(result, Err(VdiError::Scene(SceneError::Unknown(ref n))) if n == "nope"),
        "{result:?}"
    );
}

#[test]
fn alpha_starts_opaque_then_paints_alpha_apart() {
    for name in SCENES {
        let want = if name == "alpha" {
            PixelFormat::Argb32
        } else {
            PixelFormat::Xrgb32
        };
        assert_eq!(scene(name).format(), want, "{name}");
    }
    let mut s = scene("alpha");
    assert!(s.frame().chunks_exact(4).all(|p| p[3] == 0xff));
    let steps = play_checking_damage(&mut s);
    // After the full-screen step, each tile keeps clear of the next ones.
    for (i, pair) in steps[1..].windows(2).enumerate() {
        let (a, b) = (&pair[0][0], &pair[1][0]);
        assert!(
            gap(a, b) >= 80,
            "steps {} and {}: {a:?} {b:?}",
            i + 1,
            i + 2
        );
    }
    let alphas: std::collections::HashSet<u8> = s.frame().chunks_exact(4).map(|p| p[3]).collect();
    assert!(alphas.len() > 200, "only {} alpha values", alphas.len());

    let tile = |at| pixels_of(s.frame(), &rect_at(at, alpha::FLAT_TILE));
    let (first, again, opaque) = (
        tile(alpha::FLAT_AT),
        tile(alpha::FLAT_AGAIN_AT),
        tile(alpha::FLAT_OPAQUE_AT),
    );
    assert!(first.chunks_exact(4).all(|p| p[3] == alpha::FLAT_ALPHA));
    assert_eq!(first, again, "the repeated tile differs");
    assert!(opaque.chunks_exact(4).all(|p| p[3] == 0xff));
    let colours = |t: &[u8]| {
        t.chunks_exact(4)
            .map(|p| [p[0], p[1], p[2]])
            .collect::<Vec<_>>()
    };
    assert_eq!(
        colours(&first),
        colours(&opaque),
        "same colour, other alpha"
    );
}

#[test]
fn the_host_publishes_the_alpha_scene_as_argb() {
    let region = create_region(&ShmLayout {
        max_width: W,
        max_height: H,
        ring_records: 64,
    })
    .expect("region");
    let producer = Producer::open(region.try_clone().expect("dup")).expect("producer");
    let mut consumer = Consumer::open(region).expect("consumer");
    let (host_end, supervisor_end) = socket_pair().expect("socket pair");
    let (host_tx, host_rx) = split_sync::<FromHost, ToHost>(host_end);
    let (sup_tx, mut sup_rx) = split_sync::<ToHost, FromHost>(supervisor_end);
    let opts = DemoOptions {
        scene: Some("alpha".into()),
        ..DemoOptions::default()
    };
    let host = std::thread::spawn(move || run(opts, producer, Doorbell::new()?, host_tx, host_rx));
    sup_rx.recv().expect("leds");
    let mut events = Vec::new();
    consumer.drain(&mut events).expect("drain");
    let mode = consumer.mode().expect("mode");
    assert_eq!(mode.format, PixelFormat::Argb32);
    assert!(events.contains(&Event::ModeChanged(mode)), "{events:?}");
    let mut pixels = Vec::new();
    consumer
        .copy_rect(mode.full_rect(), &mut pixels)
        .expect("copy");
    assert!(pixels.chunks_exact(4).all(|p| p[3] == 0xff), "not opaque");
    // The supervisor goes away: both halves of its end close.
    drop((sup_tx, sup_rx));
    host.join().expect("host thread").expect("host");
}
