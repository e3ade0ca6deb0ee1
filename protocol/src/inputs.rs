//! Inputs channel (type 3): keyboard and mouse events, and PC/XT scancode decoding.

use crate::consts::{msg::inputs_cli as cli, INPUT_MOTION_ACK_BUNCH};
use crate::wire::{Reader, WireError, Writer};

/// Keyboard LED flag: Scroll Lock.
pub const MODIFIER_SCROLL_LOCK: u16 = 1;
/// Keyboard LED flag: Num Lock.
pub const MODIFIER_NUM_LOCK: u16 = 2;
/// Keyboard LED flag: Caps Lock.
pub const MODIFIER_CAPS_LOCK: u16 = 4;

/// Mouse button number: left.
pub const MOUSE_BUTTON_LEFT: u8 = 1;
/// Mouse button number: middle.
pub const MOUSE_BUTTON_MIDDLE: u8 = 2;
/// Mouse button number: right.
pub const MOUSE_BUTTON_RIGHT: u8 = 3;
/// Mouse button number: wheel up.
pub const MOUSE_BUTTON_UP: u8 = 4;
/// Mouse button number: wheel down.
pub const MOUSE_BUTTON_DOWN: u8 = 5;
/// Mouse button number: side.
pub const MOUSE_BUTTON_SIDE: u8 = 6;
/// Mouse button number: extra.
pub const MOUSE_BUTTON_EXTRA: u8 = 7;

/// Button-state mask bit: left.
pub const MOUSE_BUTTON_MASK_LEFT: u16 = 1 << 0;
/// Button-state mask bit: middle.
pub const MOUSE_BUTTON_MASK_MIDDLE: u16 = 1 << 1;
/// Button-state mask bit: right.
pub const MOUSE_BUTTON_MASK_RIGHT: u16 = 1 << 2;
/// Button-state mask bit: wheel up.
pub const MOUSE_BUTTON_MASK_UP: u16 = 1 << 3;
/// Button-state mask bit: wheel down.
pub const MOUSE_BUTTON_MASK_DOWN: u16 = 1 << 4;
/// Button-state mask bit: side.
pub const MOUSE_BUTTON_MASK_SIDE: u16 = 1 << 5;
/// Button-state mask bit: extra.
pub const MOUSE_BUTTON_MASK_EXTRA: u16 = 1 << 6;

/// Longest KEY_SCANCODE body we accept; real clients send at most a few bytes.
pub const MAX_SCANCODE_BYTES: usize = 64;

/// Pause key code in [`ScancodeEvent::code`] (from the `e1 1d 45` sequence).
pub const SCANCODE_PAUSE: u16 = 0xe11d;

/// Mask bit for a button number, 0 for numbers outside 1..=7.
pub fn button_mask(button: u8) -> u16 {
    match button {
        1..=7 => 1 << (button - 1),
        _ => 0,
    }
}

/// A client→server inputs message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputsClientMsg {
    /// KEY_DOWN: scancode bytes in a u32, see [`key_code_bytes`].
    KeyDown {
        /// Raw code.
        code: u32,
    },
    /// KEY_UP: scancode bytes in a u32, see [`key_code_bytes`].
    KeyUp {
        /// Raw code.
        code: u32,
    },
    /// KEY_MODIFIERS: the client's lock-key state.
    KeyModifiers {
        /// `MODIFIER_*` flags.
        modifiers: u16,
    },
    /// KEY_SCANCODE: raw set-1 bytes, presses and releases mixed.
    KeyScancode {
        /// 1 to 64 scancode bytes.
        bytes: Vec<u8>,
    },
    /// MOUSE_MOTION (server mouse mode).
    MouseMotion {
        /// Horizontal delta.
        dx: i32,
        /// Vertical delta.
        dy: i32,
        /// Button state mask.
        buttons: u16,
    },
    /// MOUSE_POSITION (client mouse mode).
    MousePosition {
        /// Absolute x.
        x: u32,
        /// Absolute y.
        y: u32,
        /// Button state mask.
        buttons: u16,
        /// Monitor the position refers to.
        display_id: u8,
    },
    /// MOUSE_PRESS.
    MousePress {
        /// `MOUSE_BUTTON_*`.
        button: u8,
        /// Button state after the press.
        buttons: u16,
    },
    /// MOUSE_RELEASE.
    MouseRelease {
        /// `MOUSE_BUTTON_*`.
        button: u8,
        /// Button state after the release.
        buttons: u16,
    },
}

impl InputsClientMsg {
    /// True for the messages that count towards MOUSE_MOTION_ACK.
    pub fn is_motion(&self) -> bool {
        matches!(
            self,
            InputsClientMsg::MouseMotion { .. } | InputsClientMsg::MousePosition { .. }
        )
    }

    /// Message type and body, as a client would send them (for the test client).
    pub fn to_body(&self) -> (u16, Vec<u8>) {
        let mut w = Writer::with_capacity(11);
        let ty = match self {
            InputsClientMsg::KeyDown { code } => {
                w.u32(*code);
                cli::KEY_DOWN
            }
            InputsClientMsg::KeyUp { code } => {
                w.u32(*code);
                cli::KEY_UP
            }
            InputsClientMsg::KeyModifiers { modifiers } => {
                w.u16(*modifiers);
                cli::KEY_MODIFIERS
            }
            InputsClientMsg::KeyScancode { bytes } => {
                w.bytes(bytes);
                cli::KEY_SCANCODE
            }
            InputsClientMsg::MouseMotion { dx, dy, buttons } => {
                w.i32(*dx).i32(*dy).u16(*buttons);
                cli::MOUSE_MOTION
            }
            InputsClientMsg::MousePosition {
                x,
                y,
                buttons,
                display_id,
            } => {
                w.u32(*x).u32(*y).u16(*buttons).u8(*display_id);
                cli::MOUSE_POSITION
            }
            InputsClientMsg::MousePress { button, buttons } => {
                w.u8(*button).u16(*buttons);
                cli::MOUSE_PRESS
            }
            InputsClientMsg::MouseRelease { button, buttons } => {
                w.u8(*button).u16(*buttons);
                cli::MOUSE_RELEASE
            }
        };
        (ty, w.into_vec())
    }
}

/// Parses an inputs client message; fixed-size bodies must be exact.
pub fn parse_inputs_client(msg_type: u16, body: &[u8]) -> Result<InputsClientMsg, WireError> {
    let what = match msg_type {
        cli::KEY_DOWN => "key down",
        cli::KEY_UP => "key up",
        cli::KEY_MODIFIERS => "key modifiers",
        cli::KEY_SCANCODE => "key scancode",
        cli::MOUSE_MOTION => "mouse motion",
        cli::MOUSE_POSITION => "mouse position",
        cli::MOUSE_PRESS => "mouse press",
        cli::MOUSE_RELEASE => "mouse release",
        t => {
            return Err(WireError::Invalid {
                what: "inputs message type",
                value: u64::from(t),
            })
        }
    };
    let mut r = Reader::named(body, what);
    let msg = match msg_type {
        cli::KEY_DOWN => InputsClientMsg::KeyDown { code: r.u32()? },
        cli::KEY_UP => InputsClientMsg::KeyUp { code: r.u32()? },
        cli::KEY_MODIFIERS => InputsClientMsg::KeyModifiers {
            modifiers: r.u16()?,
        },
        cli::KEY_SCANCODE => {
            if body.is_empty() {
                return Err(WireError::Invalid {
                    what: "key scancode length",
                    value: 0,
                });
            }
            if body.len() > MAX_SCANCODE_BYTES {
                return Err(WireError::TooLarge {
                    what: "key scancode length",
                    value: body.len() as u64,
                    max: MAX_SCANCODE_BYTES as u64,
                });
            }
            InputsClientMsg::KeyScancode {
                bytes: r.rest().to_vec(),
            }
        }
        cli::MOUSE_MOTION => InputsClientMsg::MouseMotion {
            dx: r.i32()?,
            dy: r.i32()?,
            buttons: r.u16()?,
        },
        cli::MOUSE_POSITION => InputsClientMsg::MousePosition {
            x: r.u32()?,
            y: r.u32()?,
            buttons: r.u16()?,
            display_id: r.u8()?,
        },
        cli::MOUSE_PRESS => InputsClientMsg::MousePress {
            button: r.u8()?,
            buttons: r.u16()?,
        },
        // Only MOUSE_RELEASE is left: the type was checked above.
        _ => InputsClientMsg::MouseRelease {
            button: r.u8()?,
            buttons: r.u16()?,
        },
    };
    r.finish()?;
    Ok(msg)
}

/// INPUTS_INIT body: the guest's keyboard LED state.
pub fn inputs_init(modifiers: u16) -> Vec<u8> {
    modifiers.to_le_bytes().to_vec()
}

/// KEY_MODIFIERS body (server side): the guest's keyboard LED state changed.
pub fn key_modifiers(modifiers: u16) -> Vec<u8> {
    modifiers.to_le_bytes().to_vec()
}

/// Parses INPUTS_INIT or server KEY_MODIFIERS (client side).
pub fn parse_modifiers(body: &[u8]) -> Result<u16, WireError> {
    let mut r = Reader::named(body, "keyboard modifiers");
    let m = r.u16()?;
    r.finish()?;
    Ok(m)
}

/// MOUSE_MOTION_ACK body (empty).
pub fn mouse_motion_ack() -> Vec<u8> {
    Vec::new()
}

/// Counts motion messages and says when to send MOUSE_MOTION_ACK.
///
/// The client stops sending motion after 2 × 4 unacknowledged messages, so
/// forgetting this freezes the pointer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MotionAcker {
    count: u32,
}

impl MotionAcker {
    /// A fresh counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one MOUSE_MOTION or MOUSE_POSITION; true when an ack is due now.
    pub fn on_motion(&mut self) -> bool {
        self.count += 1;
        if self.count >= INPUT_MOTION_ACK_BUNCH {
            self.count = 0;
            true
        } else {
            false
        }
    }
}

/// The scancode bytes carried by a KEY_DOWN/KEY_UP code: its little-endian bytes up to the first 0.
pub fn key_code_bytes(code: u32) -> Vec<u8> {
    code.to_le_bytes()
        .into_iter()
        .take_while(|&b| b != 0)
        .collect()
}

/// The KEY_DOWN/KEY_UP code for up to four scancode bytes (client side, as spice-gtk packs it).
pub fn key_code_from_bytes(bytes: &[u8]) -> u32 {
    let mut le = [0u8; 4];
    for (dst, src) in le.iter_mut().zip(bytes) {
        *dst = *src;
    }
    u32::from_le_bytes(le)
}

/// One key transition decoded from set-1 scancodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScancodeEvent {
    /// Plain keys 0x01..=0x7f; `e0`-prefixed keys 0xe000 | code; Pause [`SCANCODE_PAUSE`].
    pub code: u16,
    /// False for a release (bit 0x80 of the last byte).
    pub pressed: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Prefix {
    #[default]
    None,
    E0,
    E1,
    E1Then(u8),
}

/// Incremental set-1 decoder.
///
/// spice-gtk sends Pause as KEY_DOWN(`e1 1d`) followed by KEY_DOWN(`45`), so a
/// prefix can span messages; keep one decoder per inputs channel and feed it
/// every KEY_DOWN/KEY_UP/KEY_SCANCODE byte in arrival order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScancodeDecoder {
    prefix: Prefix,
}

fn bad_scancode(b: u8) -> WireError {
    WireError::Invalid {
        what: "scancode",
        value: u64::from(b),
    }
}

impl ScancodeDecoder {
    /// A decoder with no pending prefix.
    pub fn new() -> Self {
        Self::default()
    }

    /// True while an `e0`/`e1` prefix awaits its following bytes.
    pub fn pending(&self) -> bool {
        self.prefix != Prefix::None
    }

    /// Drops any pending prefix (e.g. when the channel resets).
    pub fn reset(&mut self) {
        self.prefix = Prefix::None;
    }

    /// Feeds one byte; yields an event once a key transition is complete.
    ///
    /// An invalid byte discards the pending prefix so one bad message cannot
    /// poison the rest of the stream.
    pub fn feed(&mut self, b: u8) -> Result<Option<ScancodeEvent>, WireError> {
        let prefix = std::mem::take(&mut self.prefix);
        let event = |code: u16, byte: u8| ScancodeEvent {
            code,
            pressed: byte & 0x80 == 0,
        };
        match prefix {
            Prefix::None => match b {
                0xe0 => {
                    self.prefix = Prefix::E0;
                    Ok(None)
                }
                0xe1 => {
                    self.prefix = Prefix::E1;
                    Ok(None)
                }
                _ if b & 0x7f == 0 => Err(bad_scancode(b)),
                _ => Ok(Some(event(u16::from(b & 0x7f), b))),
            },
            Prefix::E0 => match b {
                0xe0 | 0xe1 => Err(bad_scancode(b)),
                _ if b & 0x7f == 0 => Err(bad_scancode(b)),
                _ => Ok(Some(event(0xe000 | u16::from(b & 0x7f), b))),
            },
            Prefix::E1 => match b {
                0x1d | 0x9d => {
                    self.prefix = Prefix::E1Then(b);
                    Ok(None)
                }
                _ => Err(bad_scancode(b)),
            },
            Prefix::E1Then(first) => match (first, b) {
                (0x1d, 0x45) | (0x9d, 0xc5) => Ok(Some(event(SCANCODE_PAUSE, b))),
                _ => Err(bad_scancode(b)),
            },
        }
    }

    /// Feeds several bytes, collecting events.
    pub fn feed_all(&mut self, bytes: &[u8]) -> Result<Vec<ScancodeEvent>, WireError> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if let Some(ev) = self.feed(b)? {
                out.push(ev);
            }
        }
        Ok(out)
    }

    /// Fails if a prefix is still waiting for bytes.
    pub fn finish(&self) -> Result<(), WireError> {
        let need = match self.prefix {
            Prefix::None => return Ok(()),
            Prefix::E0 | Prefix::E1Then(_) => 1,
            Prefix::E1 => 2,
        };
        Err(WireError::Truncated {
            what: "scancode",
            need,
            have: 0,
        })
    }
}

/// Decodes a complete set-1 byte string (a KEY_SCANCODE body, or [`key_code_bytes`] of a code).
///
/// A prefix without its following bytes is an error; use [`ScancodeDecoder`]
/// when prefixes may span messages.
pub fn decode_scancodes(bytes: &[u8]) -> Result<Vec<ScancodeEvent>, WireError> {
    let mut dec = ScancodeDecoder::new();
    let events = dec.feed_all(bytes)?;
    dec.finish()?;
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn down(code: u16) -> ScancodeEvent {
        ScancodeEvent {
            code,
            pressed: true,
        }
    }

    fn up(code: u16) -> ScancodeEvent {
        ScancodeEvent {
            code,
            pressed: false,
        }
    }

    fn all_msgs() -> Vec<InputsClientMsg> {
        vec![
            InputsClientMsg::KeyDown { code: 0x1e },
            InputsClientMsg::KeyUp { code: 0xcde0 },
            InputsClientMsg::KeyModifiers {
                modifiers: MODIFIER_NUM_LOCK,
            },
            InputsClientMsg::KeyScancode {
                bytes: vec![0x1e, 0x9e],
            },
            InputsClientMsg::MouseMotion {
                dx: -3,
                dy: 7,
                buttons: MOUSE_BUTTON_MASK_LEFT,
            },
            InputsClientMsg::MousePosition {
                x: 640,
                y: 480,
                buttons: 0,
                display_id: 1,
            },
            InputsClientMsg::MousePress {
                button: MOUSE_BUTTON_LEFT,
                buttons: 1,
            },
            InputsClientMsg::MouseRelease {
                button: MOUSE_BUTTON_LEFT,
                buttons: 0,
            },
        ]
    }

    #[test]
    fn round_trip_every_message() {
        for m in all_msgs() {
            let (ty, body) = m.to_body();
            assert_eq!(parse_inputs_client(ty, &body), Ok(m));
        }
    }

    #[test]
    fn body_sizes_match_spec() {
        let sizes: Vec<usize> = all_msgs().iter().map(|m| m.to_body().1.len()).collect();
        assert_eq!(sizes, vec![4, 4, 2, 2, 10, 11, 3, 3]);
    }

    #[test]
    fn live_capture_left_click() {
        // A left click was press `01 0100`, release `01 0000`.
        assert_eq!(
            parse_inputs_client(cli::MOUSE_PRESS, &[0x01, 0x01, 0x00]),
            Ok(InputsClientMsg::MousePress {
                button: 1,
                buttons: 1
            })
        );
        assert_eq!(
            parse_inputs_client(cli::MOUSE_RELEASE, &[0x01, 0x00, 0x00]),
            Ok(InputsClientMsg::MouseRelease {
                button: 1,
                buttons: 0
            })
        );
    }

    #[test]
    fn fixed_bodies_truncated_and_trailing() {
        for m in all_msgs() {
            if matches!(m, InputsClientMsg::KeyScancode { .. }) {
                continue;
            }
            let (ty, body) = m.to_body();
            for n in 0..body.len() {
                assert!(matches!(
                    parse_inputs_client(ty, &body[..n]),
                    Err(WireError::Truncated { .. })
                ));
            }
            let mut long = body;
            long.push(0);
            assert!(matches!(
                parse_inputs_client(ty, &long),
                Err(WireError::TrailingBytes { .. })
            ));
        }
    }

    #[test]
    fn key_scancode_length_limits() {
        assert_eq!(
            parse_inputs_client(cli::KEY_SCANCODE, &[]),
            Err(WireError::Invalid {
                what: "key scancode length",
                value: 0
            })
        );
        assert!(parse_inputs_client(cli::KEY_SCANCODE, &[0x1e; 64]).is_ok());
        assert_eq!(
            parse_inputs_client(cli::KEY_SCANCODE, &[0x1e; 65]),
            Err(WireError::TooLarge {
                what: "key scancode length",
                value: 65,
                max: 64
            })
        );
    }

    #[test]
    fn unknown_type() {
        assert_eq!(
            parse_inputs_client(105, &[]),
            Err(WireError::Invalid {
                what: "inputs message type",
                value: 105
            })
        );
    }

    #[test]
    fn server_bodies() {
        assert_eq!(
            inputs_init(MODIFIER_CAPS_LOCK | MODIFIER_SCROLL_LOCK),
            vec![5, 0]
        );
        assert_eq!(key_modifiers(2), vec![2, 0]);
        assert_eq!(parse_modifiers(&key_modifiers(7)), Ok(7));
        assert!(parse_modifiers(&[1]).is_err());
        assert!(parse_modifiers(&[1, 0, 0]).is_err());
        assert!(mouse_motion_ack().is_empty());
    }

    #[test]
    fn button_masks() {
        assert_eq!(button_mask(MOUSE_BUTTON_LEFT), MOUSE_BUTTON_MASK_LEFT);
        assert_eq!(button_mask(MOUSE_BUTTON_RIGHT), MOUSE_BUTTON_MASK_RIGHT);
        assert_eq!(button_mask(MOUSE_BUTTON_EXTRA), MOUSE_BUTTON_MASK_EXTRA);
        assert_eq!(button_mask(MOUSE_BUTTON_UP), MOUSE_BUTTON_MASK_UP);
        assert_eq!(button_mask(0), 0);
        assert_eq!(button_mask(8), 0);
    }

    #[test]
    fn motion_acker_every_four() {
        let mut a = MotionAcker::new();
        let acks: Vec<bool> = (0..9).map(|_| a.on_motion()).collect();
        assert_eq!(
            acks,
            vec![false, false, false, true, false, false, false, true, false]
        );
        assert!(InputsClientMsg::MouseMotion {
            dx: 0,
            dy: 0,
            buttons: 0
        }
        .is_motion());
        assert!(!InputsClientMsg::KeyDown { code: 1 }.is_motion());
    }

    #[test]
    fn key_code_bytes_stop_at_zero() {
        // 'a' down = 1e 00 00 00; Right down = e0 4d 00 00; Right up = e0 cd 00 00.
        assert_eq!(
            key_code_bytes(u32::from_le_bytes([0x1e, 0, 0, 0])),
            vec![0x1e]
        );
        assert_eq!(key_code_bytes(0x0000_4de0), vec![0xe0, 0x4d]);
        assert_eq!(
            key_code_bytes(u32::from_le_bytes([0xe0, 0xcd, 0, 0])),
            vec![0xe0, 0xcd]
        );
        assert_eq!(key_code_bytes(0), Vec::<u8>::new());
        assert_eq!(key_code_bytes(0x4500_1de1), vec![0xe1, 0x1d]);
        assert_eq!(key_code_from_bytes(&[0xe0, 0x4d]), 0x0000_4de0);
        assert_eq!(key_code_from_bytes(&[1, 2, 3, 4, 5]), 0x0403_0201);
    }

    #[test]
    fn decode_spec_examples() {
        assert_eq!(
            decode_scancodes(&key_code_bytes(0x1e)),
            Ok(vec![down(0x1e)])
        );
        assert_eq!(decode_scancodes(&key_code_bytes(0x9e)), Ok(vec![up(0x1e)]));
        assert_eq!(
            decode_scancodes(&key_code_bytes(0x4de0)),
            Ok(vec![down(0xe04d)])
        );
        assert_eq!(
            decode_scancodes(&key_code_bytes(0xcde0)),
            Ok(vec![up(0xe04d)])
        );
        assert_eq!(decode_scancodes(&[0xe0, 0x1c]), Ok(vec![down(0xe01c)]));
        assert_eq!(decode_scancodes(&[0xe0, 0x9c]), Ok(vec![up(0xe01c)]));
        assert_eq!(
            decode_scancodes(&[0x1e, 0x9e]),
            Ok(vec![down(0x1e), up(0x1e)])
        );
        assert_eq!(
            decode_scancodes(&[0xe0, 0x4d, 0xe0, 0xcd]),
            Ok(vec![down(0xe04d), up(0xe04d)])
        );
        assert_eq!(
            decode_scancodes(&[0xe1, 0x1d, 0x45]),
            Ok(vec![down(SCANCODE_PAUSE)])
        );
        assert_eq!(
            decode_scancodes(&[0xe1, 0x9d, 0xc5]),
            Ok(vec![up(SCANCODE_PAUSE)])
        );
        assert_eq!(decode_scancodes(&[]), Ok(vec![]));
    }

    #[test]
    fn decode_truncated_prefixes() {
        for bytes in [&[0xe0][..], &[0xe1], &[0xe1, 0x1d], &[0x1e, 0xe0]] {
            assert!(
                matches!(
                    decode_scancodes(bytes),
                    Err(WireError::Truncated {
                        what: "scancode",
                        ..
                    })
                ),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn decode_bad_values() {
        for bytes in [
            &[0x00][..],
            &[0x80],
            &[0xe0, 0x00],
            &[0xe0, 0x80],
            &[0xe0, 0xe0],
            &[0xe0, 0xe1],
            &[0xe1, 0x45],
            &[0xe1, 0x1d, 0xc5],
            &[0xe1, 0x9d, 0x45],
        ] {
            assert!(
                matches!(
                    decode_scancodes(bytes),
                    Err(WireError::Invalid {
                        what: "scancode",
                        ..
                    })
                ),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn decoder_spans_messages() {
        // spice-gtk's Pause: KEY_DOWN(e1 1d) then KEY_DOWN(45).
        let mut dec = ScancodeDecoder::new();
        assert_eq!(dec.feed_all(&key_code_bytes(0x1de1)), Ok(vec![]));
        assert!(dec.pending());
        assert_eq!(
            dec.feed_all(&key_code_bytes(0x45)),
            Ok(vec![down(SCANCODE_PAUSE)])
        );
        assert!(!dec.pending());
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn decoder_recovers_after_error() {
        let mut dec = ScancodeDecoder::new();
        assert_eq!(dec.feed(0xe0), Ok(None));
        assert!(dec.feed(0xe1).is_err());
        assert!(!dec.pending());
        assert_eq!(dec.feed(0x1e), Ok(Some(down(0x1e))));
        dec.feed(0xe1).unwrap();
        dec.reset();
        assert_eq!(dec.finish(), Ok(()));
    }

    proptest! {
        #[test]
        fn parse_never_panics(ty in 99u16..116, data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_inputs_client(ty, &data);
            let _ = parse_modifiers(&data);
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..32)) {
            let _ = decode_scancodes(&data);
        }

        #[test]
        fn plain_keys_round_trip(code in 1u8..0x7f, pressed in any::<bool>()) {
            prop_assume!(code != 0x60 && code != 0x61);
            let byte = if pressed { code } else { code | 0x80 };
            prop_assert_eq!(decode_scancodes(&[byte]), Ok(vec![ScancodeEvent { code: u16::from(code), pressed }]));
            let ext = decode_scancodes(&[0xe0, byte]).unwrap();
            prop_assert_eq!(ext, vec![ScancodeEvent { code: 0xe000 | u16::from(code), pressed }]);
        }

        #[test]
        fn messages_round_trip(dx in any::<i32>(), dy in any::<i32>(), x in any::<u32>(), b in any::<u16>(), id in any::<u8>()) {
            for m in [
                InputsClientMsg::MouseMotion { dx, dy, buttons: b },
                InputsClientMsg::MousePosition { x, y: x ^ 1, buttons: b, display_id: id },
                InputsClientMsg::KeyDown { code: x },
            ] {
                let (ty, body) = m.to_body();
                prop_assert_eq!(parse_inputs_client(ty, &body), Ok(m));
            }
        }
    }
}
