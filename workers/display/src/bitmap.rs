//! Uncompressed images in the smallest exact bitmap format: palettized
//! (1, 4 or 8 bits per pixel) when the image has few colours, as text and
//! UI mostly do, else 24-bit. The X byte of B,G,R,X pixels carries nothing,
//! so no format loses information. Images with alpha go as 32-bit RGBA:
//! palettes are colours only.

use std::collections::HashMap;

/// `SpiceBitmapFmt` values used here.
pub const FMT_1BIT_BE: u8 = 2;
pub const FMT_4BIT_BE: u8 = 4;
pub const FMT_8BIT: u8 = 5;
pub const FMT_24BIT: u8 = 7;
pub const FMT_RGBA: u8 = 9;

/// An image laid out as one bitmap format, rows top-down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    pub format: u8,
    pub stride: u32,
    pub data: Vec<u8>,
    /// Palette entries as 0x00RRGGBB, for the indexed formats.
    pub palette: Option<Vec<u32>>,
}

fn rgb(p: &[u8]) -> u32 {
    u32::from(p[2]) << 16 | u32::from(p[1]) << 8 | u32::from(p[0])
}

/// The colours of an image in order of appearance, or `None` past 256.
fn colours(pixels: &[u8]) -> Option<(Vec<u32>, HashMap<u32, u8>)> {
    let mut index: HashMap<u32, u8> = HashMap::new();
    let mut palette = Vec::new();
    // Rendered content comes in runs: checking the previous colour first
    // skips the table for most pixels.
    let mut last = None;
    for p in pixels.chunks_exact(4) {
        let c = rgb(p);
        if last == Some(c) {
            continue;
        }
        last = Some(c);
        if let std::collections::hash_map::Entry::Vacant(slot) = index.entry(c) {
            slot.insert(u8::try_from(palette.len()).ok()?);
            palette.push(c);
        }
    }
    Some((palette, index))
}

/// Packs indices of `bits` bits, leftmost pixel in the high bits.
fn pack_indexed(pixels: &[u8], width: usize, bits: usize, index: &HashMap<u32, u8>) -> Bitmap {
    let stride = (width * bits).div_ceil(8);
    let rows = pixels.len() / 4 / width.max(1);
    let mut data = vec![0u8; stride * rows];
    let per_byte = 8 / bits;
    for (row, line) in pixels.chunks_exact(width * 4).enumerate() {
        let out = &mut data[row * stride..(row + 1) * stride];
        for (x, p) in line.chunks_exact(4).enumerate() {
            let i = index.get(&rgb(p)).copied().unwrap_or(0);
            let shift = 8 - bits * (x % per_byte + 1);
            out[x / per_byte] |= i << shift;
        }
    }
    let format = match bits {
        1 => FMT_1BIT_BE,
        4 => FMT_4BIT_BE,
        _ => FMT_8BIT,
    };
    Bitmap {
        format,
        stride: stride as u32,
        data,
        palette: None,
    }
}

/// Three bytes a pixel: B,G,R.
fn pack_24(pixels: &[u8], width: usize) -> Bitmap {
    let data: Vec<u8> = pixels
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    Bitmap {
        format: FMT_24BIT,
        stride: (width * 3) as u32,
        data,
        palette: None,
    }
}

/// The smallest exact bitmap for packed B,G,R,X rows of `width` pixels
/// (B,G,R,A when `alpha`).
pub fn best(pixels: &[u8], width: u32, alpha: bool) -> Bitmap {
    let width = width.max(1) as usize;
    if alpha {
        return Bitmap {
            format: FMT_RGBA,
            stride: (width * 4) as u32,
            data: pixels.to_vec(),
            palette: None,
        };
    }
    match colours(pixels) {
        Some((palette, index)) => {
            let bits = match palette.len() {
                0..=2 => 1,
                3..=16 => 4,
                _ => 8,
            };
            let mut b = pack_indexed(pixels, width, bits, &index);
            b.palette = Some(palette);
            b
        }
        None => pack_24(pixels, width),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands a bitmap back to B,G,R,X the way a client's canvas does.
    fn expand(b: &Bitmap, width: usize, height: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(width * height * 4);
        for row in 0..height {
            let line = &b.data[row * b.stride as usize..];
            for x in 0..width {
                let c = match b.format {
                    FMT_24BIT => {
                        let p = &line[x * 3..x * 3 + 3];
                        u32::from(p[2]) << 16 | u32::from(p[1]) << 8 | u32::from(p[0])
                    }
                    f => {
                        let bits = match f {
                            FMT_1BIT_BE => 1,
                            FMT_4BIT_BE => 4,
                            _ => 8,
                        };
                        let per = 8 / bits;
                        let byte = line[x / per];
                        let i = (byte >> (8 - bits * (x % per + 1))) & ((1u16 << bits) - 1) as u8;
                        b.palette.as_ref().expect("palette")[usize::from(i)]
                    }
                };
                out.extend_from_slice(&[c as u8, (c >> 8) as u8, (c >> 16) as u8, 0]);
            }
        }
        out
    }

    fn image(width: usize, height: usize, colours: u32) -> Vec<u8> {
        (0..width * height)
            .flat_map(|i| {
                let c = (i as u32).wrapping_mul(2_654_435_761) % colours;
                [c as u8, (c >> 8) as u8 ^ 0x5a, c.wrapping_mul(7) as u8, 0]
            })
            .collect()
    }

    #[test]
    fn each_colour_count_gets_the_smallest_exact_format() {
        for (colours, format) in [
            (1, FMT_1BIT_BE),
            (2, FMT_1BIT_BE),
            (3, FMT_4BIT_BE),
            (16, FMT_4BIT_BE),
            (17, FMT_8BIT),
            (256, FMT_8BIT),
            (1000, FMT_24BIT),
        ] {
            for (w, h) in [(1, 1), (1, 9), (9, 1), (13, 7), (33, 5), (64, 64)] {
                let px = image(w, h, colours);
                let b = best(&px, w as u32, false);
                let distinct = px
                    .chunks_exact(4)
                    .map(|p| [p[0], p[1], p[2]])
                    .collect::<std::collections::HashSet<_>>()
                    .len();
                if distinct as u32 == colours {
                    assert_eq!(b.format, format, "{colours} colours at {w}x{h}");
                }
                let mut want = px.clone();
                want.chunks_exact_mut(4).for_each(|p| p[3] = 0);
                assert_eq!(expand(&b, w, h), want, "{colours} colours at {w}x{h}");
            }
        }
    }

    #[test]
    fn images_with_alpha_keep_every_byte() {
        // Two colours, which would palettize, but with different alphas.
        let px = [1, 2, 3, 0, 1, 2, 3, 255, 1, 2, 3, 0x80];
        let b = best(&px, 3, true);
        assert_eq!(b.format, FMT_RGBA);
        assert_eq!(b.stride, 12);
        assert_eq!(b.data, px);
        assert_eq!(b.palette, None);
    }

    #[test]
    fn the_padding_byte_does_not_count_as_colour() {
        let px = [1, 2, 3, 0, 1, 2, 3, 255];
        let b = best(&px, 2, false);
        assert_eq!(b.format, FMT_1BIT_BE);
        assert_eq!(b.palette, Some(vec![0x030201]));
    }
}
