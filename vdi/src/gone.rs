//! The picture shown while a host back-end has nothing to show (the X
//! server or the QEMU VM went away): a dark screen that says so in plain
//! words, so that whoever looks at the SPICE client knows the machine
//! behind it is gone rather than frozen. Shared by every back-end; each
//! names its subject ("X display :99", "VM debian"). The same look
//! fills a display the machine has no screen for (a VM with fewer graphic
//! consoles than spicebox has displays), in words that say just that.

use crate::draw::canvas::Canvas;
use crate::draw::font::{draw_text, text_width, GLYPH};

/// Background of the "gone" picture (B,G,R in a word, 0x00RRGGBB).
pub const GONE_BACKGROUND: u32 = 0x1c2026;
pub(crate) const TITLE_COLOR: u32 = 0xf0c050;
const NOTE_COLOR: u32 = 0xa0a8b0;

/// Why nothing of the machine is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    /// It cannot be reached (never was, or the connection broke); spicebox
    /// waits for it.
    Gone,
    /// It went away and spicebox ends the sessions with it
    /// (`--on-host-exit end`).
    Ended,
    /// It is there but spicebox cannot show it (pixel format, missing
    /// extension): retrying will not help until it is reconfigured.
    Unsupported,
    /// It is served, but has fewer graphic consoles (screens) than
    /// spicebox has displays: this display (counted from 0, as the display
    /// channels are) has none behind it.
    NoConsole {
        /// This display's number.
        display: usize,
        /// How many graphic consoles the machine has.
        consoles: usize,
    },
}

/// The "gone" picture for `subject` (e.g. "X display :99"), B,G,R,X rows
/// of `width` pixels.
pub(crate) fn paint(width: u32, height: u32, subject: &str, why: Why) -> Vec<u8> {
    let mut buf = vec![0u8; width as usize * height as usize * 4];
    let mut canvas = Canvas::new(&mut buf, width, height);
    let bounds = canvas.bounds();
    canvas.fill(&bounds, GONE_BACKGROUND);
    // Subjects come from the command line or from the machine; keep them
    // printable and short enough for one line.
    let subject: String = subject
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let title = match why {
        Why::Gone | Why::Ended => format!("{subject} is gone"),
        Why::Unsupported => format!("{subject} cannot be shown"),
        Why::NoConsole { .. } => format!("{subject} has no console for this display"),
    };
    let note = match why {
        Why::Gone => "spicebox reconnects when it is back".to_string(),
        Why::Ended => "the session ends".to_string(),
        Why::Unsupported => "see the spicebox log for why".to_string(),
        Why::NoConsole { display, consoles } => no_console_note(display, consoles),
    };
    // As large as fits, down to the font's own size.
    let scale_for = |len: usize, largest: u32| {
        (1..=largest)
            .rev()
            .find(|&s| text_width(len, s) + 16 <= width)
            .unwrap_or(1)
    };
    let lines = [
        (title.as_bytes(), scale_for(title.len(), 3), TITLE_COLOR),
        (note.as_bytes(), scale_for(note.len(), 2), NOTE_COLOR),
    ];
    let block_height: u32 = lines.iter().map(|(_, s, _)| GLYPH * s + 8).sum();
    let mut y = height.saturating_sub(block_height) / 2;
    for (text, scale, color) in lines {
        let x = width.saturating_sub(text_width(text.len(), scale)) / 2;
        draw_text(&mut canvas, x, y, text, scale, &bounds, |_| color);
        y += GLYPH * scale + 8;
    }
    buf
}

/// Says which display this is and how many the machine fills, so that
/// whoever sees it knows it is the machine's set-up, not a fault.
fn no_console_note(display: usize, consoles: usize) -> String {
    let has = match consoles {
        0 => "it has no graphic console".to_string(),
        1 => "it has 1 graphic console".to_string(),
        n => format!("it has {n} graphic consoles"),
    };
    format!("{has}; this is display {display}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_names_its_subject() {
        let a = paint(320, 200, "X display :7", Why::Gone);
        let b = paint(320, 200, "VM debian", Why::Gone);
        assert_eq!(a.len(), 320 * 200 * 4);
        assert_ne!(a, b);
        // Corner: background; somewhere: text.
        assert_eq!(&a[..4], &GONE_BACKGROUND.to_le_bytes());
        assert!(a
            .chunks_exact(4)
            .any(|p| p[..3] == TITLE_COLOR.to_le_bytes()[..3]));
        // Tiny screens and odd names neither panic nor overflow.
        assert_eq!(paint(1, 1, "\u{7}:1", Why::Unsupported).len(), 4);
    }

    #[test]
    fn a_display_without_a_console_is_not_shown_as_gone() {
        let missing = |display, consoles| Why::NoConsole { display, consoles };
        let gone = paint(640, 480, "VM debian", Why::Gone);
        let absent = paint(640, 480, "VM debian", missing(1, 1));
        assert_eq!(absent.len(), gone.len());
        assert_ne!(absent, gone);
        // Same look: background and title colour.
        assert_eq!(&absent[..4], &GONE_BACKGROUND.to_le_bytes());
        assert!(absent
            .chunks_exact(4)
            .any(|p| p[..3] == TITLE_COLOR.to_le_bytes()[..3]));
        // Which display it is shows in the picture.
        assert_ne!(absent, paint(640, 480, "VM debian", missing(2, 1)));
        assert_eq!(
            no_console_note(2, 1),
            "it has 1 graphic console; this is display 2"
        );
        assert_eq!(
            no_console_note(3, 2),
            "it has 2 graphic consoles; this is display 3"
        );
        assert_eq!(
            no_console_note(1, 0),
            "it has no graphic console; this is display 1"
        );
    }
}
