//! PC/XT set-1 scancodes (as the inputs worker decodes them) to X keycodes.
//!
//! X keycodes have no fixed meaning: the server's keymap gives them one.
//! Every X server configured with the `evdev` XKB rules (Xorg with
//! libinput or evdev, Xvfb, Xephyr, Xwayland) numbers keys as the Linux
//! input layer does plus 8, so the translation goes set 1 → Linux evdev
//! code → + 8. A server with another keymap (old `xfree86` rules) would see
//! the right physical keys only by chance; see docs/x11.md.

/// X keycodes are the evdev code plus this offset.
const EVDEV_OFFSET: u16 = 8;

/// Scancode of Pause as the inputs worker reports it (`e1 1d 45`).
const PAUSE: u16 = 0xe11d;
/// Linux `KEY_PAUSE`.
const KEY_PAUSE: u16 = 119;

/// Plain (unprefixed) codes above 0x58 whose evdev code differs from the
/// scancode; 0x01..=0x58 are equal in both numberings except 0x54.
const PLAIN_HIGH: [(u8, u16); 19] = [
    (0x54, 99),  // Alt+PrintScreen (SysRq) sends its own code
    (0x59, 117), // keypad =
    (0x64, 183), // F13
    (0x65, 184), // F14
    (0x66, 185), // F15
    (0x67, 186), // F16
    (0x68, 187), // F17
    (0x69, 188), // F18
    (0x6a, 189), // F19
    (0x6b, 190), // F20
    (0x6c, 191), // F21
    (0x6d, 192), // F22
    (0x6e, 193), // F23
    (0x76, 194), // F24
    (0x70, 93),  // Katakana/Hiragana
    (0x73, 89),  // Ro
    (0x79, 92),  // Henkan
    (0x7b, 94),  // Muhenkan
    (0x7d, 124), // Yen
];

/// `e0`-prefixed codes.
const EXTENDED: [(u8, u16); 40] = [
    (0x10, 165), // previous song
    (0x19, 163), // next song
    (0x1c, 96),  // keypad Enter
    (0x1d, 97),  // right Ctrl
    (0x20, 113), // mute
    (0x21, 140), // calculator
    (0x22, 164), // play/pause
    (0x24, 166), // stop CD
    (0x2e, 114), // volume down
    (0x30, 115), // volume up
    (0x32, 172), // home page
    (0x35, 98),  // keypad /
    (0x37, 99),  // Print Screen
    (0x38, 100), // right Alt (AltGr)
    (0x46, 119), // Ctrl+Break
    (0x47, 102), // Home
    (0x48, 103), // Up
    (0x49, 104), // Page Up
    (0x4b, 105), // Left
    (0x4d, 106), // Right
    (0x4f, 107), // End
    (0x50, 108), // Down
    (0x51, 109), // Page Down
    (0x52, 110), // Insert
    (0x53, 111), // Delete
    (0x5b, 125), // left Super
    (0x5c, 126), // right Super
    (0x5d, 127), // Menu
    (0x5e, 116), // Power
    (0x5f, 142), // Sleep
    (0x63, 143), // Wake
    (0x65, 217), // search
    (0x66, 156), // bookmarks
    (0x67, 173), // refresh
    (0x68, 128), // stop
    (0x69, 159), // forward
    (0x6a, 158), // back
    (0x6b, 157), // my computer
    (0x6c, 155), // mail
    (0x6d, 226), // media
];

/// The Linux evdev code of a set-1 scancode, if the key has one.
pub(crate) fn evdev_code(scancode: u16) -> Option<u16> {
    if scancode == PAUSE {
        return Some(KEY_PAUSE);
    }
    let (prefix, code) = (scancode >> 8, (scancode & 0xff) as u8);
    let table: &[(u8, u16)] = match prefix {
        0 => {
            // The classic PC keys: both numberings come from the same
            // original AT keyboard, so they coincide.
            if (0x01..=0x58).contains(&code) && code != 0x54 {
                return Some(u16::from(code));
            }
            &PLAIN_HIGH
        }
        0xe0 => &EXTENDED,
        _ => return None,
    };
    table.iter().find(|(c, _)| *c == code).map(|(_, e)| *e)
}

/// The X keycode (evdev keymap) of a set-1 scancode; None for keys X
/// cannot express (keycodes stop at 255).
pub(crate) fn x_keycode(scancode: u16) -> Option<u8> {
    let evdev = evdev_code(scancode)?;
    u8::try_from(evdev.checked_add(EVDEV_OFFSET)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_keys_map_to_evdev_keycodes() {
        // Keycodes as `xev` shows them on an evdev-keymap server.
        assert_eq!(x_keycode(0x01), Some(9)); // Escape
        assert_eq!(x_keycode(0x1e), Some(38)); // a
        assert_eq!(x_keycode(0x2a), Some(50)); // left Shift
        assert_eq!(x_keycode(0x39), Some(65)); // space
        assert_eq!(x_keycode(0x58), Some(96)); // F12
        assert_eq!(x_keycode(0xe01c), Some(104)); // keypad Enter
        assert_eq!(x_keycode(0xe01d), Some(105)); // right Ctrl
        assert_eq!(x_keycode(0xe038), Some(108)); // AltGr
        assert_eq!(x_keycode(0xe048), Some(111)); // Up
        assert_eq!(x_keycode(0xe04d), Some(114)); // Right
        assert_eq!(x_keycode(0xe053), Some(119)); // Delete
        assert_eq!(x_keycode(0xe05b), Some(133)); // left Super
        assert_eq!(x_keycode(0xe11d), Some(127)); // Pause
    }

    #[test]
    fn unknown_codes_have_no_keycode() {
        assert_eq!(x_keycode(0x00), None);
        assert_eq!(x_keycode(0x7f), None);
        assert_eq!(x_keycode(0xe001), None);
        assert_eq!(x_keycode(0xe2_1e), None);
    }
}
