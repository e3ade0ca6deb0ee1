//! The static part of the picture, drawn once: gradient, panels with their
//! shadows, the photo, the video frame and the status bar. Every repaint
//! starts by copying from it.

use crate::draw::canvas::Canvas;
use crate::draw::color::rgb;
use crate::draw::geom::rect;
use crate::draw::shapes::shadow;

use super::background;
use super::layout::Layout;
use super::photo;
use super::status::Status;
use super::terminal::Terminal;

/// Renders the base picture (BGRX, stride `width * 4`).
pub(crate) fn build(layout: &Layout, seed: u64, terminal: &Terminal, status: &Status) -> Vec<u8> {
    let mut pixels = vec![0u8; layout.width as usize * layout.height as usize * 4];
    let mut canvas = Canvas::new(&mut pixels, layout.width, layout.height);
    background::paint(&mut canvas);
    let s = layout.scale;
    terminal.draw_frame(&mut canvas);

    shadow(&mut canvas, &layout.photo, 1.0, 6 * s, 2 * s, 120);
    photo::draw(&mut canvas, &layout.photo, seed, 2 * s);

    // The video area is repainted every frame; only its frame is static.
    let v = layout.video;
    shadow(&mut canvas, &v, 1.0, 6 * s, 2 * s, 120);
    let frame = rect(
        v.x.saturating_sub(s),
        v.y.saturating_sub(s),
        v.width + 2 * s,
        v.height + 2 * s,
    );
    canvas.fill(&frame, rgb(28, 30, 38));

    status.draw_frame(&mut canvas);
    pixels
}
