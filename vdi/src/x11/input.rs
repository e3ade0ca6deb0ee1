//! Client input replayed on the X display with XTEST.
//!
//! spicebox serves in server mouse mode, so the client mostly sends
//! relative motion. X has no relative XTEST motion that honours the screen
//! edges the way a real mouse does, so the host keeps its own pointer
//! position, clamped to the screen, and moves the X pointer there with an
//! absolute fake motion. The position is re-read from the server every
//! frame (see `Display::pointer`), so other X clients warping the pointer
//! are followed.

use spicebox_ipc::InputEvent;
use x11rb::protocol::xproto::{self, Window};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;
use x11rb::CURRENT_TIME;

use super::error::X11Error;
use super::keymap::x_keycode;

/// What an applied event may have changed that the host loop reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Nothing to report.
    Nothing,
    /// A key went down or up: the lock LEDs may have changed.
    Key,
    /// The pointer moved to this position.
    Moved(i32, i32),
}

/// Replays client input through XTEST.
pub(crate) struct Injector {
    root: Window,
    /// The pointer position the host believes in, inside the screen.
    pointer: (i32, i32),
    /// The screen size, for clamping.
    size: (u32, u32),
}

impl Injector {
    /// An injector for `root`, with the pointer at `pointer`.
    pub(crate) fn new(root: Window, size: (u32, u32), pointer: (i32, i32)) -> Injector {
        let mut injector = Injector {
            root,
            pointer: (0, 0),
            size,
        };
        injector.pointer = injector.clamp(pointer.0, pointer.1);
        injector
    }

    /// The screen changed size.
    pub(crate) fn set_size(&mut self, size: (u32, u32)) {
        self.size = size;
        self.pointer = self.clamp(self.pointer.0, self.pointer.1);
    }

    /// The server says the pointer is here (another client may have
    /// moved it).
    pub(crate) fn set_pointer(&mut self, x: i32, y: i32) {
        self.pointer = self.clamp(x, y);
    }

    /// Sends `event` to the X server (not flushed).
    pub(crate) fn apply(
        &mut self,
        conn: &RustConnection,
        event: &InputEvent,
    ) -> Result<Applied, X11Error> {
        match *event {
            InputEvent::Key { code, pressed } => {
                let Some(keycode) = x_keycode(code) else {
                    tracing::debug!(code, "no X keycode for this scancode; ignored");
                    return Ok(Applied::Nothing);
                };
                let kind = if pressed {
                    xproto::KEY_PRESS_EVENT
                } else {
                    xproto::KEY_RELEASE_EVENT
                };
                self.fake(conn, kind, keycode, (0, 0))?;
                Ok(Applied::Key)
            }
            InputEvent::PointerMotion { dx, dy } => {
                let (x, y) = self.pointer;
                self.move_to(conn, x.saturating_add(dx), y.saturating_add(dy))
            }
            InputEvent::PointerPosition { x, y, .. } => {
                let x = i32::try_from(x).unwrap_or(i32::MAX);
                let y = i32::try_from(y).unwrap_or(i32::MAX);
                self.move_to(conn, x, y)
            }
            InputEvent::Button { button, pressed } => {
                let Some(x_button) = x_button(button) else {
                    return Ok(Applied::Nothing);
                };
                let kind = if pressed {
                    xproto::BUTTON_PRESS_EVENT
                } else {
                    xproto::BUTTON_RELEASE_EVENT
                };
                self.fake(conn, kind, x_button, (0, 0))?;
                Ok(Applied::Nothing)
            }
            // Mirroring the client's lock keys would mean pressing keys on
            // the shared display behind its user's back; the LEDs flow
            // the other way (X → client) only.
            InputEvent::LockState { .. } => Ok(Applied::Nothing),
        }
    }

    fn move_to(&mut self, conn: &RustConnection, x: i32, y: i32) -> Result<Applied, X11Error> {
        self.pointer = self.clamp(x, y);
        let (x, y) = self.pointer;
        self.fake(conn, xproto::MOTION_NOTIFY_EVENT, 0, (x, y))?;
        Ok(Applied::Moved(x, y))
    }

    fn fake(
        &self,
        conn: &RustConnection,
        kind: u8,
        detail: u8,
        (x, y): (i32, i32),
    ) -> Result<(), X11Error> {
        let x = i16::try_from(x).unwrap_or(i16::MAX);
        let y = i16::try_from(y).unwrap_or(i16::MAX);
        conn.xtest_fake_input(kind, detail, CURRENT_TIME, self.root, x, y, 0)?;
        Ok(())
    }

    fn clamp(&self, x: i32, y: i32) -> (i32, i32) {
        let max_x = i32::try_from(self.size.0.saturating_sub(1)).unwrap_or(i32::MAX);
        let max_y = i32::try_from(self.size.1.saturating_sub(1)).unwrap_or(i32::MAX);
        (x.clamp(0, max_x), y.clamp(0, max_y))
    }
}

/// SPICE button numbers (left 1, middle 2, right 3, wheel 4/5, side 6,
/// extra 7) to X buttons (the same, then back 8, forward 9).
fn x_button(button: u8) -> Option<u8> {
    match button {
        1..=5 => Some(button),
        6 => Some(8),
        7 => Some(9),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_stays_on_the_screen() {
        let mut i = Injector::new(1, (640, 480), (700, -5));
        assert_eq!(i.pointer, (639, 0));
        i.set_size((320, 200));
        assert_eq!(i.pointer, (319, 0));
        i.set_pointer(10, 10);
        assert_eq!(i.clamp(i32::MIN, i32::MAX), (0, 199));
    }

    #[test]
    fn buttons_map_to_x_numbers() {
        assert_eq!(x_button(1), Some(1));
        assert_eq!(x_button(5), Some(5));
        assert_eq!(x_button(6), Some(8));
        assert_eq!(x_button(7), Some(9));
        assert_eq!(x_button(0), None);
        assert_eq!(x_button(8), None);
    }
}
