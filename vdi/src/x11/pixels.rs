//! The root window's pixel layout and its conversion to the framebuffer's
//! B,G,R,X (X = 0).
//!
//! The common case, 24/32-bit TrueColor with 8-bit channels in the
//! server's little-endian order, is already B,G,R,X and is copied row by
//! row with the pad byte cleared. Everything else TrueColor (16-bit 565,
//! 15-bit 555, packed 24-bit, big-endian servers) goes through a per-pixel
//! path driven by the visual's masks. Palette visuals (depth 8 PseudoColor)
//! are refused with a clear error: their colours live in a colormap that
//! can change under us.

use x11rb::protocol::xproto::{ImageOrder, Setup, VisualClass};

use super::error::X11Error;

/// One colour channel: where it sits in a pixel value and how wide it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Channel {
    shift: u32,
    /// Largest channel value (`mask >> shift`).
    max: u32,
}

impl Channel {
    fn from_mask(mask: u32) -> Option<Channel> {
        if mask == 0 {
            return None;
        }
        let shift = mask.trailing_zeros();
        let max = mask >> shift;
        // A channel must be one run of bits, at most 16 wide.
        if max > 0xffff || (max & (max + 1)) != 0 {
            return None;
        }
        Some(Channel { shift, max })
    }

    /// The channel of `pixel` scaled to 0..=255.
    fn extract(self, pixel: u32) -> u8 {
        let v = (pixel >> self.shift) & self.max;
        if self.max == 255 {
            return v as u8;
        }
        ((v * 255 + self.max / 2) / self.max) as u8
    }
}

/// How the X server lays out the root window's pixels in a ZPixmap image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PixelFormat {
    /// Bits per pixel in an image: 16, 24 or 32.
    pub(crate) bits_per_pixel: u8,
    /// Rows are padded to a multiple of this many bits.
    scanline_pad: u8,
    big_endian: bool,
    red: Channel,
    green: Channel,
    blue: Channel,
}

impl PixelFormat {
    /// The format of screen `screen` of `setup`, or why it is unsupported.
    pub(crate) fn of_screen(setup: &Setup, screen: usize) -> Result<PixelFormat, X11Error> {
        let unsupported = |what: String| X11Error::UnsupportedFormat(what);
        let scr = setup
            .roots
            .get(screen)
            .ok_or_else(|| unsupported(format!("screen {screen} does not exist")))?;
        let depth = scr.root_depth;
        let visual = scr
            .allowed_depths
            .iter()
            .flat_map(|d| d.visuals.iter())
            .find(|v| v.visual_id == scr.root_visual)
            .ok_or_else(|| unsupported("the root visual is not listed".into()))?;
        if visual.class != VisualClass::TRUE_COLOR && visual.class != VisualClass::DIRECT_COLOR {
            return Err(unsupported(format!(
                "depth {depth} {:?} (only TrueColor is captured)",
                visual.class
            )));
        }
        let format = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == depth)
            .ok_or_else(|| unsupported(format!("no pixmap format for depth {depth}")))?;
        let channels = (
            Channel::from_mask(visual.red_mask),
            Channel::from_mask(visual.green_mask),
            Channel::from_mask(visual.blue_mask),
        );
        let (Some(red), Some(green), Some(blue)) = channels else {
            return Err(unsupported(format!(
                "colour masks {:#x}/{:#x}/{:#x}",
                visual.red_mask, visual.green_mask, visual.blue_mask
            )));
        };
        let bpp = format.bits_per_pixel;
        let pad = format.scanline_pad;
        if !matches!(bpp, 16 | 24 | 32) || !matches!(pad, 8 | 16 | 32) {
            return Err(unsupported(format!(
                "depth {depth} at {bpp} bits per pixel, rows padded to {pad} bits"
            )));
        }
        Ok(PixelFormat {
            bits_per_pixel: bpp,
            scanline_pad: pad,
            big_endian: setup.image_byte_order == ImageOrder::MSB_FIRST,
            red,
            green,
            blue,
        })
    }

    /// Bytes of one image row `width` pixels wide, padding included.
    pub(crate) fn stride(&self, width: u32) -> usize {
        let bits = width as usize * usize::from(self.bits_per_pixel);
        let pad = usize::from(self.scanline_pad);
        bits.div_ceil(pad) * pad / 8
    }

    fn bytes_per_pixel(&self) -> usize {
        usize::from(self.bits_per_pixel / 8)
    }

    /// Already B,G,R,X in memory: only the pad byte needs clearing.
    fn is_bgrx(&self) -> bool {
        let eight = |c: Channel, shift| c.max == 255 && c.shift == shift;
        self.bits_per_pixel == 32
            && !self.big_endian
            && eight(self.red, 16)
            && eight(self.green, 8)
            && eight(self.blue, 0)
    }

    /// Converts one row of `src` (server layout) into `dst` (B,G,R,0 per
    /// pixel); converts as many pixels as both hold.
    pub(crate) fn convert_row(&self, src: &[u8], dst: &mut [u8]) {
        if self.is_bgrx() {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                d[..3].copy_from_slice(&s[..3]);
                d[3] = 0;
            }
            return;
        }
        let bpp = self.bytes_per_pixel();
        for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(bpp)) {
            let pixel = self.read(s);
            d[0] = self.blue.extract(pixel);
            d[1] = self.green.extract(pixel);
            d[2] = self.red.extract(pixel);
            d[3] = 0;
        }
    }

    /// One pixel value from its bytes in the server's byte order.
    fn read(&self, bytes: &[u8]) -> u32 {
        if self.big_endian {
            bytes.iter().fold(0, |v, b| (v << 8) | u32::from(*b))
        } else {
            bytes.iter().rev().fold(0, |v, b| (v << 8) | u32::from(*b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(bpp: u8, big_endian: bool, masks: (u32, u32, u32)) -> PixelFormat {
        PixelFormat {
            bits_per_pixel: bpp,
            scanline_pad: 32,
            big_endian,
            red: Channel::from_mask(masks.0).expect("red"),
            green: Channel::from_mask(masks.1).expect("green"),
            blue: Channel::from_mask(masks.2).expect("blue"),
        }
    }

    const RGB888: (u32, u32, u32) = (0xff0000, 0xff00, 0xff);

    #[test]
    fn bgrx_is_copied_with_the_pad_cleared() {
        let f = format(32, false, RGB888);
        assert!(f.is_bgrx());
        let mut dst = [9u8; 8];
        f.convert_row(&[1, 2, 3, 0xff, 4, 5, 6, 0x80], &mut dst);
        assert_eq!(dst, [1, 2, 3, 0, 4, 5, 6, 0]);
    }

    #[test]
    fn big_endian_and_565_convert_exactly() {
        let mut dst = [0u8; 4];
        format(32, true, RGB888).convert_row(&[0, 0x11, 0x22, 0x33], &mut dst);
        assert_eq!(dst, [0x33, 0x22, 0x11, 0]);
        let f565 = format(16, false, (0xf800, 0x07e0, 0x001f));
        // Pure red, then white.
        f565.convert_row(&0xf800u16.to_le_bytes(), &mut dst);
        assert_eq!(dst, [0, 0, 255, 0]);
        f565.convert_row(&0xffffu16.to_le_bytes(), &mut dst);
        assert_eq!(dst, [255, 255, 255, 0]);
        assert_eq!(f565.stride(3), 8);
    }

    #[test]
    fn broken_masks_are_refused() {
        assert_eq!(Channel::from_mask(0), None);
        assert_eq!(Channel::from_mask(0b1011), None);
        assert!(Channel::from_mask(0xff00).is_some());
    }
}
