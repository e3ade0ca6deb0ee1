//! Turning a rectangle of pixels into a SPICE image payload.

use spicebox_protocol::display::ImageData;

/// Image compression chosen at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain 32-bit bitmaps.
    Off,
    /// LZ4 (type 109) where the client has the LZ4 capability.
    Lz4,
}

/// `SpiceBitmapFmt` 32BIT: B,G,R,X.
const BITMAP_FMT_32BIT: u8 = 8;

/// Input bytes per LZ4 block. Blocks are independent; whole rows per block
/// keep the decoder's output contiguous.
const LZ4_BLOCK_BYTES: usize = 256 * 1024;

/// An encoded image ready to be placed in a draw message.
pub enum Encoded {
    Bitmap { stride: u32, pixels: Vec<u8> },
    Lz4(Vec<u8>),
}

impl Encoded {
    /// The protocol view of this payload.
    pub fn as_image_data(&self) -> ImageData<'_> {
        match self {
            Encoded::Bitmap { stride, pixels } => ImageData::Bitmap32 {
                stride: *stride,
                data: pixels,
            },
            Encoded::Lz4(data) => ImageData::Lz4 { data },
        }
    }
}

/// Builds an LZ4 image stream: u8 top_down, u8 format, then blocks of a
/// big-endian u32 length and an LZ4 block.
pub fn lz4_stream(pixels: &[u8], width: u32) -> Vec<u8> {
    let row = (width as usize).max(1) * 4;
    let rows_per_block = (LZ4_BLOCK_BYTES / row).max(1);
    let mut out = Vec::with_capacity(pixels.len() / 4 + 64);
    out.push(1); // top-down
    out.push(BITMAP_FMT_32BIT);
    for chunk in pixels.chunks(rows_per_block * row) {
        let block = lz4_flex::block::compress(chunk);
        // A block is at most one chunk's worst-case size, far below 4 GiB.
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        out.extend_from_slice(&block);
    }
    out
}

/// Encodes packed B,G,R,X rows of `width` pixels.
pub fn encode(
    pixels: Vec<u8>,
    width: u32,
    compression: Compression,
    client_has_lz4: bool,
) -> Encoded {
    match compression {
        Compression::Lz4 if client_has_lz4 => Encoded::Lz4(lz4_stream(&pixels, width)),
        _ => Encoded::Bitmap {
            stride: width * 4,
            pixels,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes our own LZ4 stream the way spice-gtk does: blocks decoded one
    /// after another into one buffer.
    fn decode(stream: &[u8]) -> Vec<u8> {
        assert_eq!(stream[0], 1);
        assert_eq!(stream[1], BITMAP_FMT_32BIT);
        let mut pos = 2;
        let mut out = Vec::new();
        while pos < stream.len() {
            let len = u32::from_be_bytes(stream[pos..pos + 4].try_into().expect("len")) as usize;
            pos += 4;
            let block = lz4_flex::block::decompress(&stream[pos..pos + len], LZ4_BLOCK_BYTES * 2)
                .expect("block");
            out.extend_from_slice(&block);
            pos += len;
        }
        out
    }

    #[test]
    fn lz4_round_trips_across_blocks() {
        let width = 300;
        let height = 700;
        let pixels: Vec<u8> = (0..width * height * 4)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let stream = lz4_stream(&pixels, width as u32);
        assert_eq!(decode(&stream), pixels);
    }

    #[test]
    fn off_and_lz4_without_cap_are_bitmaps() {
        let e = encode(vec![0; 16], 2, Compression::Lz4, false);
        assert!(matches!(e, Encoded::Bitmap { stride: 8, .. }));
        let e = encode(vec![0; 16], 2, Compression::Off, true);
        assert!(matches!(e, Encoded::Bitmap { .. }));
    }
}
