//! From SPICE inputs messages to host-neutral input events.

use spicebox_ipc::InputEvent;
use spicebox_protocol::inputs::{key_code_bytes, InputsClientMsg, ScancodeDecoder};
use spicebox_protocol::wire::WireError;

/// The events one client message produces.
#[derive(Debug, PartialEq, Eq)]
pub struct Translated {
    /// In order.
    pub events: Vec<InputEvent>,
    /// Counts towards the motion ACK bunch.
    pub is_motion: bool,
}

/// Highest SPICE mouse button number (EXTRA).
const MAX_BUTTON: u8 = 7;

/// Translates one parsed client message. `keys` carries a scancode prefix
/// across messages: spice-gtk sends Pause as `e1 1d` and `45` in two
/// KEY_DOWNs.
pub fn translate(
    msg: &InputsClientMsg,
    decoder: &mut ScancodeDecoder,
) -> Result<Translated, WireError> {
    let mut keys = |bytes: &[u8]| -> Result<Vec<InputEvent>, WireError> {
        Ok(decoder
            .feed_all(bytes)?
            .into_iter()
            .map(|k| InputEvent::Key {
                code: k.code,
                pressed: k.pressed,
            })
            .collect())
    };
    let (events, is_motion) = match msg {
        InputsClientMsg::KeyDown { code } | InputsClientMsg::KeyUp { code } => {
            let bytes = key_code_bytes(*code);
            if bytes.is_empty() {
                return Err(WireError::Invalid {
                    what: "key code",
                    value: u64::from(*code),
                });
            }
            (keys(&bytes)?, false)
        }
        InputsClientMsg::KeyScancode { bytes } => (keys(bytes)?, false),
        InputsClientMsg::KeyModifiers { modifiers } => (
            vec![InputEvent::LockState {
                modifiers: *modifiers & 0x7,
            }],
            false,
        ),
        InputsClientMsg::MouseMotion { dx, dy, .. } => {
            (vec![InputEvent::PointerMotion { dx: *dx, dy: *dy }], true)
        }
        InputsClientMsg::MousePosition {
            x, y, display_id, ..
        } => (
            vec![InputEvent::PointerPosition {
                x: *x,
                y: *y,
                display: *display_id,
            }],
            true,
        ),
        InputsClientMsg::MousePress { button, .. }
        | InputsClientMsg::MouseRelease { button, .. } => {
            if *button == 0 || *button > MAX_BUTTON {
                return Err(WireError::Invalid {
                    what: "mouse button",
                    value: u64::from(*button),
                });
            }
            let pressed = matches!(msg, InputsClientMsg::MousePress { .. });
            (
                vec![InputEvent::Button {
                    button: *button,
                    pressed,
                }],
                false,
            )
        }
    };
    Ok(Translated { events, is_motion })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(msg: &InputsClientMsg) -> Result<Translated, WireError> {
        super::translate(msg, &mut ScancodeDecoder::new())
    }

    #[test]
    fn pause_spans_two_messages() {
        let mut dec = ScancodeDecoder::new();
        let first =
            super::translate(&InputsClientMsg::KeyDown { code: 0x1de1 }, &mut dec).expect("e1 1d");
        assert!(first.events.is_empty());
        let second =
            super::translate(&InputsClientMsg::KeyDown { code: 0x45 }, &mut dec).expect("45");
        assert_eq!(
            second.events,
            vec![InputEvent::Key {
                code: 0xe11d,
                pressed: true
            }]
        );
    }

    #[test]
    fn keys_translate_with_prefixes() {
        let down = translate(&InputsClientMsg::KeyDown { code: 0x1e }).expect("a");
        assert_eq!(
            down.events,
            vec![InputEvent::Key {
                code: 0x1e,
                pressed: true
            }]
        );
        let up = translate(&InputsClientMsg::KeyUp { code: 0xcd_e0 }).expect("right up");
        assert_eq!(
            up.events,
            vec![InputEvent::Key {
                code: 0xe04d,
                pressed: false
            }]
        );
        let tap = translate(&InputsClientMsg::KeyScancode {
            bytes: vec![0x1e, 0x9e],
        })
        .expect("tap");
        assert_eq!(
            tap.events,
            vec![
                InputEvent::Key {
                    code: 0x1e,
                    pressed: true
                },
                InputEvent::Key {
                    code: 0x1e,
                    pressed: false
                }
            ]
        );
    }

    #[test]
    fn motion_counts_and_buttons_are_checked() {
        let m = translate(&InputsClientMsg::MouseMotion {
            dx: 3,
            dy: -2,
            buttons: 0,
        })
        .expect("motion");
        assert!(m.is_motion);
        assert!(translate(&InputsClientMsg::MousePress {
            button: 9,
            buttons: 0
        })
        .is_err());
        assert!(translate(&InputsClientMsg::KeyDown { code: 0 }).is_err());
        let p = translate(&InputsClientMsg::MousePress {
            button: 1,
            buttons: 1,
        })
        .expect("press");
        assert_eq!(
            p.events,
            vec![InputEvent::Button {
                button: 1,
                pressed: true
            }]
        );
    }
}
