//! PC/XT set-1 scancodes to US-layout characters, with Shift, Caps Lock,
//! Num Lock and a few Ctrl shortcuts.

/// What a key press means to the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyAction {
    Char(char),
    Backspace,
    Enter,
    /// Ctrl+C.
    Interrupt,
    /// Ctrl+U.
    KillLine,
    /// Ctrl+L.
    ClearScreen,
}

/// SPICE keyboard modifier flags (the lock LEDs).
pub(crate) const LED_SCROLL: u16 = 1;
pub(crate) const LED_NUM: u16 = 2;
pub(crate) const LED_CAPS: u16 = 4;

const LEFT_SHIFT: u16 = 0x2a;
const RIGHT_SHIFT: u16 = 0x36;
const LEFT_CTRL: u16 = 0x1d;
const RIGHT_CTRL: u16 = 0xe01d;
const CAPS_LOCK: u16 = 0x3a;
const NUM_LOCK: u16 = 0x45;
const SCROLL_LOCK: u16 = 0x46;
const BACKSPACE: u16 = 0x0e;
const ENTER: u16 = 0x1c;
const KEYPAD_ENTER: u16 = 0xe01c;
const KEYPAD_SLASH: u16 = 0xe035;

/// Unshifted and shifted characters for the plain scancodes 0x02..=0x39.
const MAIN: [(u16, char, char); 48] = [
    (0x02, '1', '!'),
    (0x03, '2', '@'),
    (0x04, '3', '#'),
    (0x05, '4', '$'),
    (0x06, '5', '%'),
    (0x07, '6', '^'),
    (0x08, '7', '&'),
    (0x09, '8', '*'),
    (0x0a, '9', '('),
    (0x0b, '0', ')'),
    (0x0c, '-', '_'),
    (0x0d, '=', '+'),
    (0x10, 'q', 'Q'),
    (0x11, 'w', 'W'),
    (0x12, 'e', 'E'),
    (0x13, 'r', 'R'),
    (0x14, 't', 'T'),
    (0x15, 'y', 'Y'),
    (0x16, 'u', 'U'),
    (0x17, 'i', 'I'),
    (0x18, 'o', 'O'),
    (0x19, 'p', 'P'),
    (0x1a, '[', '{'),
    (0x1b, ']', '}'),
    (0x1e, 'a', 'A'),
    (0x1f, 's', 'S'),
    (0x20, 'd', 'D'),
    (0x21, 'f', 'F'),
    (0x22, 'g', 'G'),
    (0x23, 'h', 'H'),
    (0x24, 'j', 'J'),
    (0x25, 'k', 'K'),
    (0x26, 'l', 'L'),
    (0x27, ';', ':'),
    (0x28, '\'', '"'),
    (0x29, '`', '~'),
    (0x2b, '\\', '|'),
    (0x2c, 'z', 'Z'),
    (0x2d, 'x', 'X'),
    (0x2e, 'c', 'C'),
    (0x2f, 'v', 'V'),
    (0x30, 'b', 'B'),
    (0x31, 'n', 'N'),
    (0x32, 'm', 'M'),
    (0x33, ',', '<'),
    (0x34, '.', '>'),
    (0x35, '/', '?'),
    (0x39, ' ', ' '),
];

/// Keypad keys that type digits only with Num Lock on.
const KEYPAD_DIGITS: [(u16, char); 11] = [
    (0x47, '7'),
    (0x48, '8'),
    (0x49, '9'),
    (0x4b, '4'),
    (0x4c, '5'),
    (0x4d, '6'),
    (0x4f, '1'),
    (0x50, '2'),
    (0x51, '3'),
    (0x52, '0'),
    (0x53, '.'),
];

/// Keypad keys that type the same with or without Num Lock.
const KEYPAD_SYMBOLS: [(u16, char); 3] = [(0x37, '*'), (0x4a, '-'), (0x4e, '+')];

/// Modifier and lock state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keyboard {
    left_shift: bool,
    right_shift: bool,
    left_ctrl: bool,
    right_ctrl: bool,
    leds: u16,
}

impl Keyboard {
    /// Lock LEDs as SPICE modifier flags.
    pub(crate) fn leds(&self) -> u16 {
        self.leds
    }

    /// Mirrors the client's lock state.
    pub(crate) fn set_leds(&mut self, modifiers: u16) {
        self.leds = modifiers & (LED_SCROLL | LED_NUM | LED_CAPS);
    }

    /// Applies one scancode event; returns what it types, if anything.
    pub(crate) fn key(&mut self, code: u16, pressed: bool) -> Option<KeyAction> {
        match code {
            LEFT_SHIFT => self.left_shift = pressed,
            RIGHT_SHIFT => self.right_shift = pressed,
            LEFT_CTRL => self.left_ctrl = pressed,
            RIGHT_CTRL => self.right_ctrl = pressed,
            CAPS_LOCK if pressed => self.leds ^= LED_CAPS,
            NUM_LOCK if pressed => self.leds ^= LED_NUM,
            SCROLL_LOCK if pressed => self.leds ^= LED_SCROLL,
            _ if pressed => return self.typed(code),
            _ => {}
        }
        None
    }

    fn typed(&self, code: u16) -> Option<KeyAction> {
        match code {
            BACKSPACE => return Some(KeyAction::Backspace),
            ENTER | KEYPAD_ENTER => return Some(KeyAction::Enter),
            KEYPAD_SLASH => return Some(KeyAction::Char('/')),
            _ => {}
        }
        let shift = self.left_shift || self.right_shift;
        if let Some(&(_, plain, shifted)) = MAIN.iter().find(|(c, ..)| *c == code) {
            if self.left_ctrl || self.right_ctrl {
                return match plain {
                    'c' => Some(KeyAction::Interrupt),
                    'u' => Some(KeyAction::KillLine),
                    'l' => Some(KeyAction::ClearScreen),
                    _ => None,
                };
            }
            // Caps Lock only affects letters, and Shift inverts it.
            let caps = self.leds & LED_CAPS != 0 && plain.is_ascii_lowercase();
            return Some(KeyAction::Char(if shift != caps { shifted } else { plain }));
        }
        if let Some(&(_, c)) = KEYPAD_SYMBOLS.iter().find(|(k, _)| *k == code) {
            return Some(KeyAction::Char(c));
        }
        if self.leds & LED_NUM != 0 {
            if let Some(&(_, c)) = KEYPAD_DIGITS.iter().find(|(k, _)| *k == code) {
                return Some(KeyAction::Char(c));
            }
        }
        // Function keys, arrows and other e0-prefixed keys type nothing.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(kb: &mut Keyboard, code: u16) -> Option<KeyAction> {
        let action = kb.key(code, true);
        kb.key(code, false);
        action
    }

    #[test]
    fn letters_digits_and_shift() {
        let mut kb = Keyboard::default();
        assert_eq!(press(&mut kb, 0x23), Some(KeyAction::Char('h')));
        assert_eq!(press(&mut kb, 0x02), Some(KeyAction::Char('1')));
        kb.key(LEFT_SHIFT, true);
        assert_eq!(press(&mut kb, 0x23), Some(KeyAction::Char('H')));
        assert_eq!(press(&mut kb, 0x02), Some(KeyAction::Char('!')));
        kb.key(LEFT_SHIFT, false);
        assert_eq!(press(&mut kb, 0x39), Some(KeyAction::Char(' ')));
    }

    #[test]
    fn caps_lock_affects_letters_only_and_lights_its_led() {
        let mut kb = Keyboard::default();
        press(&mut kb, CAPS_LOCK);
        assert_eq!(kb.leds(), LED_CAPS);
        assert_eq!(press(&mut kb, 0x1e), Some(KeyAction::Char('A')));
        assert_eq!(press(&mut kb, 0x03), Some(KeyAction::Char('2')));
        kb.key(RIGHT_SHIFT, true);
        assert_eq!(press(&mut kb, 0x1e), Some(KeyAction::Char('a')));
    }

    #[test]
    fn control_keys_and_e0_keys() {
        let mut kb = Keyboard::default();
        assert_eq!(press(&mut kb, BACKSPACE), Some(KeyAction::Backspace));
        assert_eq!(press(&mut kb, ENTER), Some(KeyAction::Enter));
        assert_eq!(press(&mut kb, KEYPAD_ENTER), Some(KeyAction::Enter));
        for arrow in [0xe048, 0xe04b, 0xe04d, 0xe050, 0xe11d, 0xffff, 0] {
            assert_eq!(press(&mut kb, arrow), None);
        }
        kb.key(LEFT_CTRL, true);
        assert_eq!(press(&mut kb, 0x2e), Some(KeyAction::Interrupt));
        assert_eq!(press(&mut kb, 0x1e), None);
    }

    #[test]
    fn keypad_digits_need_num_lock() {
        let mut kb = Keyboard::default();
        assert_eq!(press(&mut kb, 0x4f), None);
        press(&mut kb, NUM_LOCK);
        assert_eq!(press(&mut kb, 0x4f), Some(KeyAction::Char('1')));
        assert_eq!(press(&mut kb, 0x37), Some(KeyAction::Char('*')));
    }
}
