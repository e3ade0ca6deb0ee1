//! Where everything goes, as a function of the screen size alone.

use spicebox_shm::Rect;

use crate::draw::font::GLYPH;
use crate::draw::geom::rect;

/// Screen regions and text metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub width: u32,
    pub height: u32,
    /// Whole-pixel text scale: 1 on small screens, 2 at 1280x800, up to 3.
    pub scale: u32,
    /// Height of one text line including spacing.
    pub line_height: u32,
    /// Gap between panels and from the screen edge.
    pub margin: u32,
    pub terminal: Rect,
    pub photo: Rect,
    pub video: Rect,
    /// The free gradient area the window bounces in.
    pub playground: Rect,
    pub status: Rect,
}

impl Layout {
    /// Lays out a screen of at least 320x200.
    pub(crate) fn new(width: u32, height: u32) -> Layout {
        let scale = (width / 640).min(height / 400).clamp(1, 3);
        let line_height = GLYPH * scale + 2 * scale;
        let margin = 8 * scale;
        let status_height = line_height + 4 * scale;
        let status = rect(
            0,
            height.saturating_sub(status_height),
            width,
            status_height,
        );

        let top = margin;
        let content_height = status.y.saturating_sub(2 * margin).max(1);
        let terminal_width = (width.saturating_sub(3 * margin) * 55 / 100).max(1);
        let terminal = rect(margin, top, terminal_width, content_height);

        let right_x = margin + terminal_width + margin;
        let right_width = width.saturating_sub(right_x + margin).max(2);
        let photo_width = (right_width.saturating_sub(margin) / 2).max(1);
        let panel_height = (photo_width * 3 / 4).min(content_height * 45 / 100).max(1);
        let photo = rect(right_x, top, photo_width, panel_height);
        let video_x = right_x + photo_width + margin;
        let video = rect(
            video_x,
            top,
            (right_x + right_width).saturating_sub(video_x).max(1),
            panel_height,
        );
        let play_y = top + panel_height + margin;
        let playground = rect(
            right_x,
            play_y,
            right_width,
            (top + content_height).saturating_sub(play_y).max(1),
        );
        Layout {
            width,
            height,
            scale,
            line_height,
            margin,
            terminal,
            photo,
            video,
            playground,
            status,
        }
    }

    /// The whole screen.
    pub(crate) fn screen(&self) -> Rect {
        rect(0, 0, self.width, self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draw::geom::{bottom, intersect, right};

    #[test]
    fn regions_fit_the_screen_and_do_not_overlap() {
        for (w, h) in [
            (320, 200),
            (1280, 800),
            (4096, 2160),
            (4096, 200),
            (320, 2160),
            (777, 431),
        ] {
            let l = Layout::new(w, h);
            let regions = [l.terminal, l.photo, l.video, l.playground, l.status];
            for (i, a) in regions.iter().enumerate() {
                assert!(a.width > 0 && a.height > 0, "{w}x{h} {a:?}");
                assert!(right(a) <= w && bottom(a) <= h, "{w}x{h} {a:?}");
                for b in &regions[i + 1..] {
                    assert_eq!(intersect(a, b), None, "{w}x{h} {a:?} {b:?}");
                }
            }
        }
        assert_eq!(Layout::new(1280, 800).scale, 2);
    }
}
