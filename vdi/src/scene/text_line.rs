//! One line of terminal text with a colour per character.

use crate::draw::color::rgb;

/// Terminal colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ink {
    Normal,
    Dim,
    Green,
    Yellow,
    Red,
    Blue,
    Bright,
    Prompt,
}

impl Ink {
    /// The colour on the dark terminal background.
    pub(crate) fn color(self) -> u32 {
        match self {
            Ink::Normal => rgb(198, 204, 214),
            Ink::Dim => rgb(118, 126, 142),
            Ink::Green => rgb(120, 204, 128),
            Ink::Yellow => rgb(232, 200, 104),
            Ink::Red => rgb(240, 104, 100),
            Ink::Blue => rgb(108, 170, 240),
            Ink::Bright => rgb(244, 246, 250),
            Ink::Prompt => rgb(132, 222, 150),
        }
    }
}

/// Printable ASCII text plus one ink per byte.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Line {
    text: String,
    inks: Vec<Ink>,
}

impl Line {
    /// An empty line.
    pub(crate) fn new() -> Line {
        Line::default()
    }

    /// A line in a single colour.
    pub(crate) fn plain(text: &str, ink: Ink) -> Line {
        let mut line = Line::new();
        line.push(text, ink);
        line
    }

    /// Appends text; anything outside printable ASCII becomes `?` so every
    /// character has a glyph and the text stays one byte per column.
    pub(crate) fn push(&mut self, text: &str, ink: Ink) -> &mut Line {
        for c in text.chars() {
            let c = if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            };
            self.text.push(c);
            self.inks.push(ink);
        }
        self
    }

    /// Cuts the line to at most `columns` characters.
    pub(crate) fn truncate(&mut self, columns: usize) {
        if self.text.len() > columns {
            // One byte per character (see `push`), so this is a char boundary.
            self.text.truncate(columns);
            self.inks.truncate(columns);
        }
    }

    /// The text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Number of columns used.
    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    /// The colour of column `i`.
    pub(crate) fn color_at(&self, i: usize) -> u32 {
        self.inks.get(i).copied().unwrap_or(Ink::Normal).color()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_replaced_and_truncation_is_safe() {
        let mut line = Line::plain("héllo\tx", Ink::Normal);
        assert_eq!(line.text(), "h?llo?x");
        line.truncate(3);
        assert_eq!(line.text(), "h?l");
        assert_eq!(line.len(), 3);
    }
}
