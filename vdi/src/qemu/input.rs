//! Client input turned into calls on QEMU's `Keyboard` and `Mouse`
//! interfaces.
//!
//! * Keys: QEMU takes a "qnum", the PC/XT set-1 scancode with the e0
//!   prefix folded into bit 7 — SPICE's scancodes with the prefix moved.
//! * Buttons: QEMU numbers them from 0 (left, middle, right, wheel up,
//!   wheel down, side, extra); SPICE from 1.
//! * Motion: spicebox serves in server mouse mode, so the client sends
//!   relative motion. A PS/2 mouse takes it as is (`RelMotion`); a USB
//!   tablet (`IsAbsolute`) only takes positions, so the host keeps its own
//!   pointer, clamped to the guest screen, and sends where it is.
//! * Displays: a position the client gives on display k goes to the
//!   `Mouse` of the console display k shows (QEMU maps it onto that
//!   head); the pointer stays on that display for relative motion until a
//!   position on another one. Keys, buttons and relative motion go to
//!   console 0, as QEMU routes them to the same devices whatever the
//!   console.
//! * Lock keys: when the client's Caps/Num/Scroll Lock differ from the
//!   guest's LEDs, the lock key is pressed in the guest, as QEMU's own
//!   SPICE server does; the LEDs then come back through `Modifiers`.

use spicebox_ipc::InputEvent;

/// SPICE/QEMU lock flags (the same bits in both): Scroll, Num, Caps.
const LOCKS: [(u16, u32); 3] = [(1, 0x46), (2, 0x45), (4, 0x3a)];

/// One call on QEMU's interfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// `Keyboard.Press`/`Release(qnum)`.
    Key { qnum: u32, pressed: bool },
    /// `Mouse.Press`/`Release(button)`.
    Button { button: u32, pressed: bool },
    /// `Mouse.SetAbsPosition(x, y)` on the console of `display`.
    Position { display: usize, x: u32, y: u32 },
    /// `Mouse.RelMotion(dx, dy)`.
    Motion { dx: i32, dy: i32 },
}

/// The pointer as the host tracks it.
#[derive(Debug)]
pub(crate) struct Pointer {
    /// Whether the guest pointer is absolute (a tablet).
    pub(crate) absolute: bool,
    /// The display the pointer is on.
    display: usize,
    position: (u32, u32),
}

impl Pointer {
    pub(crate) fn new(absolute: bool) -> Pointer {
        Pointer {
            absolute,
            display: 0,
            position: (0, 0),
        }
    }

    /// The calls for `event`, with `sizes` the guest screen sizes of the
    /// served displays (display k is `sizes[k]`); `guest_locks` is the
    /// guest's `Modifiers`.
    pub(crate) fn translate(
        &mut self,
        event: &InputEvent,
        sizes: &[(u32, u32)],
        guest_locks: u32,
    ) -> Vec<Call> {
        match *event {
            InputEvent::Key { code, pressed } => match qnum(code) {
                Some(qnum) => vec![Call::Key { qnum, pressed }],
                None => {
                    tracing::debug!(code, "no QEMU key number for this scancode; ignored");
                    Vec::new()
                }
            },
            InputEvent::Button { button, pressed } => dbus_button(button)
                .map(|button| Call::Button { button, pressed })
                .into_iter()
                .collect(),
            InputEvent::PointerMotion { dx, dy } if !self.absolute => {
                vec![Call::Motion { dx, dy }]
            }
            InputEvent::PointerMotion { dx, dy } => {
                let x = i64::from(self.position.0) + i64::from(dx);
                let y = i64::from(self.position.1) + i64::from(dy);
                let size = sizes.get(self.display).copied().unwrap_or_default();
                self.move_to(x, y, size)
            }
            InputEvent::PointerPosition { x, y, display: on } => {
                let on = usize::from(on);
                let Some(&size) = sizes.get(on) else {
                    tracing::debug!(
                        display = on,
                        "a position on a display no console is shown on; ignored"
                    );
                    return Vec::new();
                };
                self.display = on;
                if self.absolute {
                    return self.move_to(i64::from(x), i64::from(y), size);
                }
                // A relative guest pointer can only follow by the difference.
                let dx = i64::from(x) - i64::from(self.position.0);
                let dy = i64::from(y) - i64::from(self.position.1);
                self.position = clamp(i64::from(x), i64::from(y), size);
                vec![Call::Motion {
                    dx: saturate(dx),
                    dy: saturate(dy),
                }]
            }
            InputEvent::LockState { modifiers } => lock_presses(modifiers, guest_locks),
        }
    }

    fn move_to(&mut self, x: i64, y: i64, size: (u32, u32)) -> Vec<Call> {
        self.position = clamp(x, y, size);
        let (x, y) = self.position;
        vec![Call::Position {
            display: self.display,
            x,
            y,
        }]
    }
}

/// SPICE's scancode (plain, `0xe000 | code`, 0xe11d for Pause) as QEMU's
/// key number.
pub(crate) fn qnum(code: u16) -> Option<u32> {
    match code {
        0x01..=0x7f => Some(u32::from(code)),
        0xe001..=0xe07f => Some(0x80 | u32::from(code & 0x7f)),
        // Pause: QEMU's key number for it is e0 46 folded.
        0xe11d => Some(0xc6),
        _ => None,
    }
}

/// SPICE button numbers (left 1 … extra 7) as QEMU's (left 0 … extra 6).
pub(crate) fn dbus_button(button: u8) -> Option<u32> {
    match button {
        1..=7 => Some(u32::from(button) - 1),
        _ => None,
    }
}

/// The guest's `Modifiers` as SPICE LED flags (the same bits).
pub(crate) fn spice_leds(modifiers: u32) -> u16 {
    (modifiers & 0x7) as u16
}

/// Press-release pairs that bring the guest's locks to the client's.
fn lock_presses(client: u16, guest: u32) -> Vec<Call> {
    let mut calls = Vec::new();
    for (flag, key) in LOCKS {
        if (client & flag != 0) != (guest & u32::from(flag) != 0) {
            calls.push(Call::Key {
                qnum: key,
                pressed: true,
            });
            calls.push(Call::Key {
                qnum: key,
                pressed: false,
            });
        }
    }
    calls
}

fn clamp(x: i64, y: i64, (w, h): (u32, u32)) -> (u32, u32) {
    let cx = x.clamp(0, i64::from(w.saturating_sub(1)));
    let cy = y.clamp(0, i64::from(h.saturating_sub(1)));
    // Both lie in 0..=u32::MAX after the clamp.
    (
        u32::try_from(cx).unwrap_or(0),
        u32::try_from(cy).unwrap_or(0),
    )
}

fn saturate(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scancodes_fold_the_e0_prefix_into_bit_7() {
        assert_eq!(qnum(0x1e), Some(0x1e)); // a
        assert_eq!(qnum(0x2a), Some(0x2a)); // left shift
        assert_eq!(qnum(0xe048), Some(0xc8)); // up
        assert_eq!(qnum(0xe01d), Some(0x9d)); // right ctrl
        assert_eq!(qnum(0xe11d), Some(0xc6)); // pause
        assert_eq!(qnum(0), None);
        assert_eq!(qnum(0x80), None);
        assert_eq!(qnum(0xe000), None);
    }

    #[test]
    fn buttons_count_from_zero() {
        assert_eq!(dbus_button(1), Some(0));
        assert_eq!(dbus_button(3), Some(2));
        assert_eq!(dbus_button(5), Some(4));
        assert_eq!(dbus_button(7), Some(6));
        assert_eq!(dbus_button(0), None);
        assert_eq!(dbus_button(8), None);
    }

    #[test]
    fn relative_motion_goes_as_is_to_a_mouse() {
        let mut p = Pointer::new(false);
        let m = InputEvent::PointerMotion { dx: 5, dy: -3 };
        assert_eq!(
            p.translate(&m, &[(640, 480)], 0),
            [Call::Motion { dx: 5, dy: -3 }]
        );
    }

    #[test]
    fn a_tablet_gets_a_clamped_server_side_position() {
        let mut p = Pointer::new(true);
        let m = |dx, dy| InputEvent::PointerMotion { dx, dy };
        let one = [(640, 480)];
        assert_eq!(
            p.translate(&m(-50, 10), &one, 0),
            [Call::Position {
                display: 0,
                x: 0,
                y: 10
            }]
        );
        assert_eq!(
            p.translate(&m(9000, 9000), &one, 0),
            [Call::Position {
                display: 0,
                x: 639,
                y: 479
            }]
        );
        assert_eq!(
            p.translate(&at(0, 100, 50), &one, 0),
            [Call::Position {
                display: 0,
                x: 100,
                y: 50
            }]
        );
    }

    fn at(display: u8, x: u32, y: u32) -> InputEvent {
        InputEvent::PointerPosition { x, y, display }
    }

    #[test]
    fn a_position_goes_to_the_console_of_its_display() {
        let mut p = Pointer::new(true);
        let two = [(1280, 800), (640, 480)];
        assert_eq!(
            p.translate(&at(1, 700, 20), &two, 0),
            [Call::Position {
                display: 1,
                x: 639,
                y: 20
            }]
        );
        // Relative motion stays on that display, clamped to its size.
        let motion = InputEvent::PointerMotion { dx: -40, dy: 900 };
        assert_eq!(
            p.translate(&motion, &two, 0),
            [Call::Position {
                display: 1,
                x: 599,
                y: 479
            }]
        );
        assert_eq!(
            p.translate(&at(0, 700, 20), &two, 0),
            [Call::Position {
                display: 0,
                x: 700,
                y: 20
            }]
        );
        // A display no console is shown on: nothing, and the pointer
        // stays where it was.
        assert!(p.translate(&at(2, 5, 5), &two, 0).is_empty());
        assert!(p.translate(&at(255, 5, 5), &two, 0).is_empty());
        assert_eq!(
            p.translate(&InputEvent::PointerMotion { dx: 1, dy: 1 }, &two, 0),
            [Call::Position {
                display: 0,
                x: 701,
                y: 21
            }]
        );
        // Buttons and keys carry no display: console 0 takes them.
        let click = InputEvent::Button {
            button: 1,
            pressed: true,
        };
        assert_eq!(
            p.translate(&click, &two, 0),
            [Call::Button {
                button: 0,
                pressed: true
            }]
        );
    }

    #[test]
    fn a_relative_guest_pointer_follows_positions_by_the_difference() {
        let mut p = Pointer::new(false);
        let two = [(1280, 800), (640, 480)];
        assert_eq!(
            p.translate(&at(1, 30, 40), &two, 0),
            [Call::Motion { dx: 30, dy: 40 }]
        );
        assert_eq!(
            p.translate(&at(1, 20, 50), &two, 0),
            [Call::Motion { dx: -10, dy: 10 }]
        );
        assert!(p.translate(&at(3, 0, 0), &two, 0).is_empty());
    }

    #[test]
    fn locks_that_differ_are_toggled() {
        let mut p = Pointer::new(false);
        // Client: Caps on; guest: Num on.
        let calls = p.translate(&InputEvent::LockState { modifiers: 4 }, &[(1, 1)], 2);
        let keys: Vec<_> = calls
            .iter()
            .map(|c| match c {
                Call::Key { qnum, pressed } => (*qnum, *pressed),
                _ => panic!("{c:?}"),
            })
            .collect();
        assert_eq!(
            keys,
            [(0x45, true), (0x45, false), (0x3a, true), (0x3a, false)]
        );
        assert_eq!(spice_leds(0xff), 7);
    }
}
