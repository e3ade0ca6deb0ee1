//! The X11 wording of the shared "gone" picture ([`crate::gone`]).

pub(crate) use crate::gone::Why;
pub use crate::gone::GONE_BACKGROUND;

/// The "gone" picture for X display `name` (e.g. `:99`), B,G,R,X rows of
/// `width` pixels.
pub fn gone_picture(width: u32, height: u32, name: &str) -> Vec<u8> {
    paint(width, height, name, Why::Gone)
}

/// The picture shown instead when the sessions end with the display
/// (`--on-host-exit end`).
pub fn ended_picture(width: u32, height: u32, name: &str) -> Vec<u8> {
    paint(width, height, name, Why::Ended)
}

pub(crate) fn paint(width: u32, height: u32, name: &str, why: Why) -> Vec<u8> {
    crate::gone::paint(width, height, &format!("X display {name}"), why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_says_which_display_is_gone() {
        let a = gone_picture(320, 200, ":7");
        let b = gone_picture(320, 200, ":8");
        assert_eq!(a.len(), 320 * 200 * 4);
        assert_ne!(a, b);
        assert_eq!(&a[..4], &GONE_BACKGROUND.to_le_bytes());
        assert_eq!(paint(1, 1, "\u{7}:1", Why::Unsupported).len(), 4);
        // Ending the session is worded otherwise than waiting for it.
        assert_ne!(ended_picture(320, 200, ":7"), a);
    }
}
