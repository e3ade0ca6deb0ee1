//! Behaviour of the demo desktop as a whole.

use spicebox_ipc::InputEvent;
use spicebox_shm::Rect;

use crate::{DemoDesktop, DemoOptions, VdiError};

fn desktop(width: u32, height: u32, seed: u64) -> DemoDesktop {
    DemoDesktop::new(&DemoOptions {
        width,
        height,
        seed,
        ..DemoOptions::default()
    })
    .unwrap()
}

fn key(code: u16, pressed: bool) -> InputEvent {
    InputEvent::Key { code, pressed }
}

/// Presses and releases each scancode.
fn tap(d: &mut DemoDesktop, codes: &[u16]) -> Vec<Rect> {
    let mut damage = Vec::new();
    for &code in codes {
        damage.extend(d.apply_input(&key(code, true)));
        damage.extend(d.apply_input(&key(code, false)));
    }
    damage
}

fn inside_screen(d: &DemoDesktop, r: &Rect) -> bool {
    r.width > 0
        && r.height > 0
        && u64::from(r.x) + u64::from(r.width) <= u64::from(d.width())
        && u64::from(r.y) + u64::from(r.height) <= u64::from(d.height())
}

/// Every pixel that changed between `before` and now lies in `damage`.
fn assert_damage_covers_changes(d: &DemoDesktop, before: &[u8], damage: &[Rect]) {
    let width = d.width() as usize;
    for (i, (old, new)) in before
        .chunks_exact(4)
        .zip(d.frame().chunks_exact(4))
        .enumerate()
    {
        if old != new {
            let (x, y) = ((i % width) as u32, (i / width) as u32);
            assert!(
                damage
                    .iter()
                    .any(|r| x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height),
                "pixel {x},{y} changed outside the damage {damage:?}"
            );
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_other_seeds_differ() {
    let mut a = desktop(640, 400, 7);
    let mut b = desktop(640, 400, 7);
    let mut c = desktop(640, 400, 8);
    assert_eq!(a.frame(), b.frame());
    assert_ne!(a.frame(), c.frame());
    for frame in 0..60 {
        assert_eq!(a.advance(), b.advance(), "frame {frame}");
        c.advance();
        if frame == 30 {
            tap(&mut a, &[0x23, 0x17]);
            tap(&mut b, &[0x23, 0x17]);
        }
    }
    assert_eq!(a.frame(), b.frame());
    assert_eq!(a.frame_number(), 60);
    assert_ne!(a.frame(), c.frame());
}

#[test]
fn frames_are_bgrx_with_a_zero_x_byte() {
    let mut d = desktop(320, 200, 1);
    d.advance();
    assert_eq!(d.frame().len(), 320 * 200 * 4);
    assert!(d.frame().chunks_exact(4).all(|px| px[3] == 0));
}

#[test]
fn damage_lies_within_the_screen_and_covers_every_change() {
    for (w, h) in [(320, 200), (1024, 768), (1280, 800), (333, 777)] {
        let mut d = desktop(w, h, 3);
        for frame in 0..120 {
            let before = d.frame().to_vec();
            let damage = d.advance();
            assert!(!damage.is_empty(), "the video changes every frame");
            assert!(
                damage.iter().all(|r| inside_screen(&d, r)),
                "{w}x{h} {damage:?}"
            );
            assert_damage_covers_changes(&d, &before, &damage);
            if frame % 10 == 0 {
                let before = d.frame().to_vec();
                let mut damage = tap(&mut d, &[0x1e, 0x39]);
                damage.extend(d.apply_input(&InputEvent::PointerMotion { dx: 37, dy: -5 }));
                damage.extend(d.apply_input(&InputEvent::Button {
                    button: 1,
                    pressed: frame % 20 == 0,
                }));
                assert!(damage.iter().all(|r| inside_screen(&d, r)), "{damage:?}");
                assert_damage_covers_changes(&d, &before, &damage);
            }
        }
    }
}

#[test]
fn a_frozen_desktop_never_changes_by_itself_but_shows_input() {
    let mut d = DemoDesktop::new(&DemoOptions {
        width: 640,
        height: 400,
        freeze: true,
        ..DemoOptions::default()
    })
    .unwrap();
    let initial = d.frame().to_vec();
    for _ in 0..50 {
        assert!(d.advance().is_empty());
    }
    assert_eq!(d.frame(), &initial[..]);
    let damage = tap(&mut d, &[0x1e]);
    assert!(!damage.is_empty());
    assert_eq!(d.input_line(), "a");
    assert_damage_covers_changes(&d, &initial, &damage);
    let damage = d.apply_input(&InputEvent::PointerPosition {
        x: 10,
        y: 20,
        display: 0,
    });
    assert!(!damage.is_empty());
    assert!(d.status_line().contains("10,20"));
}

#[test]
fn typed_scancodes_appear_and_enter_runs_the_line() {
    let mut d = desktop(1280, 800, 1);
    // h, i.
    tap(&mut d, &[0x23, 0x17]);
    assert_eq!(d.input_line(), "hi");
    tap(&mut d, &[0x1c]);
    assert_eq!(d.input_line(), "");
    let lines = d.terminal_lines();
    let n = lines.len();
    assert_eq!(lines[n - 2], "demo:~$ hi");
    assert_eq!(lines[n - 1], "sh: hi: command not found");

    // Shift+h, i, Backspace, Backspace, e, c, h, o, space, 1.
    d.apply_input(&key(0x2a, true));
    tap(&mut d, &[0x23]);
    d.apply_input(&key(0x2a, false));
    tap(
        &mut d,
        &[0x17, 0x0e, 0x0e, 0x12, 0x2e, 0x23, 0x18, 0x39, 0x02],
    );
    assert_eq!(d.input_line(), "echo 1");
    tap(&mut d, &[0x1c]);
    assert_eq!(d.terminal_lines().last(), Some(&"1"));
}

#[test]
fn e0_and_unknown_scancodes_do_not_type_or_crash() {
    let mut d = desktop(640, 400, 1);
    let lines: Vec<String> = d.terminal_lines().iter().map(|l| l.to_string()).collect();
    // Keypad Enter and keypad slash are the e0 keys that do type.
    let silent = (0xe000..=0xe0ff).filter(|c| *c != 0xe01c && *c != 0xe035);
    for code in silent.chain([0xe11d, 0x7f, 0xffff, 0]) {
        d.apply_input(&key(code, true));
        d.apply_input(&key(code, false));
    }
    assert_eq!(d.input_line(), "");
    assert_eq!(d.terminal_lines(), lines);
    tap(&mut d, &[0xe035]);
    assert_eq!(d.input_line(), "/");
}

#[test]
fn the_pointer_is_clamped_to_the_screen() {
    let mut d = desktop(640, 400, 1);
    assert_eq!(d.cursor(), (319, 199));
    d.apply_input(&InputEvent::PointerMotion {
        dx: i32::MIN,
        dy: -1000,
    });
    assert_eq!(d.cursor(), (0, 0));
    d.apply_input(&InputEvent::PointerMotion {
        dx: 5000,
        dy: i32::MAX,
    });
    assert_eq!(d.cursor(), (639, 399));
    d.apply_input(&InputEvent::PointerPosition {
        x: 100,
        y: u32::MAX,
        display: 0,
    });
    assert_eq!(d.cursor(), (100, 399));
    // Positions on another monitor do not apply.
    d.apply_input(&InputEvent::PointerPosition {
        x: 1,
        y: 1,
        display: 1,
    });
    assert_eq!(d.cursor(), (100, 399));
    assert!(d.status_line().contains(" 100,399"));
}

#[test]
fn buttons_and_lock_state_show_in_the_status_line() {
    let mut d = desktop(1280, 800, 1);
    assert!(d.status_line().contains("no button yet"));
    d.apply_input(&InputEvent::Button {
        button: 3,
        pressed: true,
    });
    assert!(d.status_line().contains("right down"));
    d.apply_input(&InputEvent::Button {
        button: 4,
        pressed: true,
    });
    assert!(d.status_line().contains("wheel up"));
    d.apply_input(&InputEvent::LockState { modifiers: 4 | 2 });
    assert_eq!(d.leds(), 6);
    assert!(d.status_line().contains("CAPS NUM"));
    // Caps Lock toggles the LED off again.
    tap(&mut d, &[0x3a]);
    assert_eq!(d.leds(), 2);
}

#[test]
fn the_cursor_shape_is_an_arrow_with_its_hot_spot_at_the_tip() {
    let d = desktop(640, 400, 1);
    let (w, h, hot_x, hot_y, argb) = d.cursor_shape();
    assert_eq!((w, h, hot_x, hot_y), (24, 24, 1, 1));
    assert_eq!(argb.len(), 24 * 24 * 4);
    // Some pixels are transparent, some opaque, some in between.
    let alphas: Vec<u8> = argb.chunks_exact(4).map(|px| px[3]).collect();
    assert!(alphas.contains(&0) && alphas.contains(&255));
    assert!(alphas.iter().any(|a| (1..255).contains(a)));
}

#[test]
fn sizes_and_frame_rates_out_of_range_are_refused() {
    for (width, height, fps) in [
        (319, 200, 30),
        (320, 199, 30),
        (4097, 2160, 30),
        (4096, 2161, 30),
        (640, 400, 0),
        (640, 400, 241),
    ] {
        let result = DemoDesktop::new(&DemoOptions {
            width,
            height,
            fps,
            ..DemoOptions::default()
        });
        assert!(
            matches!(
                result,
                Err(VdiError::InvalidSize { .. } | VdiError::InvalidFps(_))
            ),
            "{width}x{height}@{fps}"
        );
    }
    assert!(DemoDesktop::new(&DemoOptions {
        width: 4096,
        height: 2160,
        ..DemoOptions::default()
    })
    .is_ok());
}
