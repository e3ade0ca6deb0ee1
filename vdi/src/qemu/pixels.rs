//! The pixel formats QEMU hands over in `Scanout` and `Update` (pixman
//! format codes: a guest in 15, 16 or 24-bit mode gets a surface in that
//! format, shared with its video memory) and their conversion to the
//! shared framebuffer's B,G,R,X.
//!
//! The 5- and 6-bit channels are widened by repeating their top bits, as
//! pixman does when QEMU itself converts, so full intensity stays 255 and
//! black stays 0.

/// A source format this host converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourceFormat {
    /// x8r8g8b8 or a8r8g8b8: B,G,R,X bytes, copied as they are.
    Bgrx32,
    /// r8g8b8: B,G,R bytes.
    Bgr24,
    /// r5g6b5: a little-endian 16-bit word.
    Rgb565,
    /// x1r5g5b5: a little-endian 16-bit word.
    Rgb555,
}

/// pixman's x8r8g8b8.
pub(crate) const PIXMAN_X8R8G8B8: u32 = 0x2002_0888;
/// pixman's a8r8g8b8: the same bytes; the alpha byte is ignored (QEMU's
/// console surfaces are opaque).
pub(crate) const PIXMAN_A8R8G8B8: u32 = 0x2002_8888;
/// pixman's r8g8b8 (24 bits per pixel).
pub(crate) const PIXMAN_R8G8B8: u32 = 0x1802_0888;
/// pixman's r5g6b5.
pub(crate) const PIXMAN_R5G6B5: u32 = 0x1002_0565;
/// pixman's x1r5g5b5.
pub(crate) const PIXMAN_X1R5G5B5: u32 = 0x1002_0555;

impl SourceFormat {
    /// The format of a pixman code, `None` for one not converted here.
    pub(crate) fn from_pixman(code: u32) -> Option<Self> {
        match code {
            PIXMAN_X8R8G8B8 | PIXMAN_A8R8G8B8 => Some(SourceFormat::Bgrx32),
            PIXMAN_R8G8B8 => Some(SourceFormat::Bgr24),
            PIXMAN_R5G6B5 => Some(SourceFormat::Rgb565),
            PIXMAN_X1R5G5B5 => Some(SourceFormat::Rgb555),
            _ => None,
        }
    }

    /// Bytes per source pixel.
    pub(crate) fn bytes_per_pixel(self) -> usize {
        match self {
            SourceFormat::Bgrx32 => 4,
            SourceFormat::Bgr24 => 3,
            SourceFormat::Rgb565 | SourceFormat::Rgb555 => 2,
        }
    }

    /// Converts the source pixels of `src` to B,G,R,X in `dst`, pixel for
    /// pixel, as many as both hold whole.
    pub(crate) fn convert_row(self, src: &[u8], dst: &mut [u8]) {
        match self {
            SourceFormat::Bgrx32 => {
                let n = src.len().min(dst.len()) / 4 * 4;
                dst[..n].copy_from_slice(&src[..n]);
            }
            SourceFormat::Bgr24 => {
                for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(3)) {
                    d[..3].copy_from_slice(s);
                    d[3] = 0;
                }
            }
            SourceFormat::Rgb565 => {
                for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(2)) {
                    let v = u16::from_le_bytes([s[0], s[1]]);
                    d.copy_from_slice(&[
                        widen5(v & 0x1f),
                        widen6(v >> 5 & 0x3f),
                        widen5(v >> 11 & 0x1f),
                        0,
                    ]);
                }
            }
            SourceFormat::Rgb555 => {
                for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(2)) {
                    let v = u16::from_le_bytes([s[0], s[1]]);
                    d.copy_from_slice(&[
                        widen5(v & 0x1f),
                        widen5(v >> 5 & 0x1f),
                        widen5(v >> 10 & 0x1f),
                        0,
                    ]);
                }
            }
        }
    }
}

/// A 5-bit channel on 8 bits (masked by the caller, so it fits).
fn widen5(v: u16) -> u8 {
    (v << 3 | v >> 2) as u8
}

/// A 6-bit channel on 8 bits (masked by the caller, so it fits).
fn widen6(v: u16) -> u8 {
    (v << 2 | v >> 4) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_formats_and_sizes() {
        for (code, format, bpp) in [
            (PIXMAN_X8R8G8B8, SourceFormat::Bgrx32, 4),
            (PIXMAN_A8R8G8B8, SourceFormat::Bgrx32, 4),
            (PIXMAN_R8G8B8, SourceFormat::Bgr24, 3),
            (PIXMAN_R5G6B5, SourceFormat::Rgb565, 2),
            (PIXMAN_X1R5G5B5, SourceFormat::Rgb555, 2),
        ] {
            assert_eq!(SourceFormat::from_pixman(code), Some(format));
            assert_eq!(format.bytes_per_pixel(), bpp);
        }
        // b8g8r8a8 and a 8-bit palette are not converted.
        assert_eq!(SourceFormat::from_pixman(0x2003_8888), None);
        assert_eq!(SourceFormat::from_pixman(0x0804_0000), None);
    }

    #[test]
    fn sixteen_bit_pixels_widen_to_full_range() {
        let mut out = [0xaau8; 16];
        // White, black, pure red, and green 0b100000 (just over half).
        let words: [u16; 4] = [0xffff, 0x0000, 0xf800, 0x0400];
        let src: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        SourceFormat::Rgb565.convert_row(&src, &mut out);
        assert_eq!(
            out,
            [
                255, 255, 255, 0, //
                0, 0, 0, 0, //
                0, 0, 255, 0, //
                0, 130, 0, 0,
            ]
        );
        // x1r5g5b5: the top bit is padding; blue 0b10000 widens to 132.
        let words: [u16; 3] = [0x7fff, 0x8000, 0x0010];
        let src: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        SourceFormat::Rgb555.convert_row(&src, &mut out[..12]);
        assert_eq!(&out[..12], &[255, 255, 255, 0, 0, 0, 0, 0, 132, 0, 0, 0]);
    }

    #[test]
    fn packed_and_32_bit_pixels_keep_their_bytes() {
        let mut out = [0xaau8; 8];
        SourceFormat::Bgr24.convert_row(&[1, 2, 3, 4, 5, 6], &mut out);
        assert_eq!(out, [1, 2, 3, 0, 4, 5, 6, 0]);
        SourceFormat::Bgrx32.convert_row(&[9, 8, 7, 6, 5, 4, 3, 2], &mut out);
        assert_eq!(out, [9, 8, 7, 6, 5, 4, 3, 2]);
        // A short source converts what it holds whole and no more.
        let mut out = [0xaau8; 8];
        SourceFormat::Rgb565.convert_row(&[0xff, 0xff, 0x00], &mut out);
        assert_eq!(out, [255, 255, 255, 0, 0xaa, 0xaa, 0xaa, 0xaa]);
    }
}
