//! Turning a rectangle of pixels into a SPICE image payload.

use spicebox_protocol::display::ImageData;

use crate::codec::glz::GlzEncoder;
use crate::codec::{lz, quic, Pixels};

/// Image compression, as QEMU's `-spice image-compression` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain 32-bit bitmaps.
    Off,
    /// LZ4 (type 109) where the client has the LZ4 capability.
    Lz4,
    /// QUIC for every image.
    Quic,
    /// LZ for every image.
    Lz,
    /// GLZ (LZ with a dictionary across images) for every image.
    Glz,
    /// Per image: QUIC for photographic content, LZ for the rest.
    AutoLz,
    /// Per image: QUIC for photographic content, GLZ for the rest.
    AutoGlz,
}

impl Compression {
    /// Parses the QEMU name of a mode.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "off" => Compression::Off,
            "lz4" => Compression::Lz4,
            "quic" => Compression::Quic,
            "lz" => Compression::Lz,
            "glz" => Compression::Glz,
            "auto_lz" => Compression::AutoLz,
            "auto_glz" => Compression::AutoGlz,
            _ => return None,
        })
    }
}

/// When a lossy or slower-but-smaller codec may be used, as QEMU's
/// `jpeg-wan-compression` and `zlib-glz-wan-compression` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WanSetting {
    /// Only on links measured as low bandwidth.
    #[default]
    Auto,
    /// Never.
    Never,
    /// On every link.
    Always,
}

impl WanSetting {
    /// Parses `auto`, `never` or `always`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "auto" => WanSetting::Auto,
            "never" => WanSetting::Never,
            "always" => WanSetting::Always,
            _ => return None,
        })
    }

    /// Whether the codec applies on a link of this kind.
    pub fn applies(self, low_bandwidth: bool) -> bool {
        match self {
            WanSetting::Auto => low_bandwidth,
            WanSetting::Never => false,
            WanSetting::Always => true,
        }
    }
}

/// The WAN codec settings of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WanOptions {
    /// JPEG (JPEG_ALPHA with alpha) in place of QUIC for photographic images.
    pub jpeg: WanSetting,
    /// GLZ streams deflated with zlib (ZLIB_GLZ_RGB) when that is smaller.
    pub zlib_glz: WanSetting,
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
    Quic(Vec<u8>),
    Lz(Vec<u8>),
    Glz(Vec<u8>),
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
            Encoded::Quic(data) => ImageData::Quic { data },
            Encoded::Lz(data) => ImageData::LzRgb { data },
            Encoded::Glz(data) => ImageData::GlzRgb { data },
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

/// What a client can decode, from its capabilities and DISPLAY_INIT.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCodecs {
    pub lz4: bool,
    /// GLZ window in pixels (0: the client keeps no dictionary).
    pub glz_window: u32,
}

/// Which family suits an image, judged from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Text, UI, flat colours: dictionary codecs win.
    Synthetic,
    /// Smooth gradients and noise: QUIC wins.
    Photographic,
}

/// Images smaller than this are never worth classifying.
const CLASSIFY_MIN_PIXELS: usize = 64 * 64;

/// Judges content from the share of pixels equal to their left neighbour:
/// rendered text and UI repeat colours in runs, photographs almost never do.
pub fn classify(img: &Pixels) -> (Content, u32) {
    let pixels = img.data.len() / 4;
    if pixels < CLASSIFY_MIN_PIXELS || img.width < 2 {
        return (Content::Synthetic, 100);
    }
    let row = img.width as usize * 4;
    // Sample up to 64 rows spread over the image.
    let step = (img.height as usize / 64).max(1);
    let (mut same, mut total) = (0usize, 0usize);
    for r in (0..img.height as usize).step_by(step) {
        let Some(line) = img.data.get(r * row..(r + 1) * row) else {
            break;
        };
        for pair in line.chunks_exact(4).collect::<Vec<_>>().windows(2) {
            total += 1;
            if pair[0][..3] == pair[1][..3] {
                same += 1;
            }
        }
    }
    let percent = u32::try_from(same * 100 / total.max(1)).unwrap_or(100);
    let content = if percent >= 40 {
        Content::Synthetic
    } else {
        Content::Photographic
    };
    (content, percent)
}

/// One display channel's encoder state: the mode, what the client decodes,
/// and its GLZ dictionary.
pub struct Encoder {
    mode: Compression,
    client: ClientCodecs,
    glz: GlzEncoder,
    wan: WanOptions,
    /// The session's main channel measured a low-bandwidth link.
    low_bandwidth: bool,
    /// Codecs that already failed once, so the fallback is logged once.
    failed: Vec<&'static str>,
}

impl Encoder {
    pub fn new(mode: Compression, client: ClientCodecs, wan: WanOptions) -> Self {
        Self {
            mode,
            client,
            glz: GlzEncoder::new(client.glz_window),
            wan,
            low_bandwidth: false,
            failed: Vec::new(),
        }
    }

    /// Records what the session's link measured; `auto` WAN codecs follow it
    /// from the next image.
    pub fn set_low_bandwidth(&mut self, low: bool) {
        self.low_bandwidth = low;
    }

    /// Changes the mode; takes effect with the next image.
    pub fn set_mode(&mut self, mode: Compression) {
        self.mode = mode;
    }

    /// Encodes packed B,G,R,X rows of `width` pixels.
    pub fn encode(&mut self, pixels: Vec<u8>, width: u32) -> Encoded {
        let height = u32::try_from(pixels.len() / 4 / (width.max(1) as usize)).unwrap_or(0);
        let img = Pixels {
            width,
            height,
            data: &pixels,
            alpha: false,
        };
        let glz_ok = self.client.glz_window > 0;
        let result = match self.mode {
            Compression::Off => None,
            Compression::Lz4 if self.client.lz4 => {
                Some(("lz4", Ok(Encoded::Lz4(lz4_stream(&pixels, width)))))
            }
            Compression::Lz4 => None,
            Compression::Quic => Some(("quic", quic::encode(&img).map(Encoded::Quic))),
            Compression::Lz => Some(("lz", lz::encode(&img).map(Encoded::Lz))),
            Compression::Glz if glz_ok => Some(("glz", self.glz.encode(&img).map(Encoded::Glz))),
            Compression::Glz => Some(("lz", lz::encode(&img).map(Encoded::Lz))),
            Compression::AutoLz | Compression::AutoGlz => {
                let (content, percent) = classify(&img);
                let dictionary = self.mode == Compression::AutoGlz && glz_ok;
                let choice = match (content, dictionary) {
                    (Content::Photographic, _) => "quic",
                    (Content::Synthetic, true) => "glz",
                    (Content::Synthetic, false) => "lz",
                };
                tracing::debug!(
                    width,
                    height,
                    repeated_neighbours = percent,
                    ?content,
                    codec = choice,
                    "auto compression choice"
                );
                Some(match choice {
                    "quic" => ("quic", quic::encode(&img).map(Encoded::Quic)),
                    "glz" => ("glz", self.glz.encode(&img).map(Encoded::Glz)),
                    _ => ("lz", lz::encode(&img).map(Encoded::Lz)),
                })
            }
        };
        match result {
            Some((_, Ok(encoded))) => encoded,
            Some((codec, Err(error))) => {
                if !self.failed.contains(&codec) {
                    self.failed.push(codec);
                    tracing::warn!(codec, %error, width, height, "encoder failed; sending a plain bitmap");
                }
                Encoded::Bitmap {
                    stride: width * 4,
                    pixels,
                }
            }
            None => Encoded::Bitmap {
                stride: width * 4,
                pixels,
            },
        }
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
        let no_lz4 = ClientCodecs {
            lz4: false,
            glz_window: 0,
        };
        let e = Encoder::new(Compression::Lz4, no_lz4, WanOptions::default()).encode(vec![0; 16], 2);
        assert!(matches!(e, Encoded::Bitmap { stride: 8, .. }));
        let lz4 = ClientCodecs {
            lz4: true,
            glz_window: 0,
        };
        let e = Encoder::new(Compression::Off, lz4, WanOptions::default()).encode(vec![0; 16], 2);
        assert!(matches!(e, Encoded::Bitmap { .. }));
        let e = Encoder::new(Compression::Lz4, lz4, WanOptions::default()).encode(vec![0; 16], 2);
        assert!(matches!(e, Encoded::Lz4(_)));
    }

    #[test]
    fn classification_tells_flat_from_noisy() {
        let flat = vec![0x20u8; 128 * 128 * 4];
        let img = Pixels {
            width: 128,
            height: 128,
            data: &flat,
            alpha: false,
        };
        assert_eq!(classify(&img).0, Content::Synthetic);
        let mut x: u32 = 12345;
        let noisy: Vec<u8> = (0..128 * 128 * 4)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x & 0xff) as u8
            })
            .collect();
        let img = Pixels {
            width: 128,
            height: 128,
            data: &noisy,
            alpha: false,
        };
        assert_eq!(classify(&img).0, Content::Photographic);
    }
}
