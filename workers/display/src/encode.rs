//! Turning a rectangle of pixels into a SPICE image payload.

use std::sync::Arc;

use spicebox_protocol::display::ImageData;

use crate::codec::glz::GlzEncoder;
use crate::codec::{jpeg, lz, quic, zlib, CodecError, Pixels};

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
    /// The mode a client asks for with PREFERRED_COMPRESSION
    /// (`SpiceImageCompression`); `None` for INVALID and unknown values.
    pub fn from_wire(value: u8) -> Option<Self> {
        use spicebox_protocol::display as d;
        Some(match value {
            d::IMAGE_COMPRESSION_OFF => Compression::Off,
            d::IMAGE_COMPRESSION_AUTO_GLZ => Compression::AutoGlz,
            d::IMAGE_COMPRESSION_AUTO_LZ => Compression::AutoLz,
            d::IMAGE_COMPRESSION_QUIC => Compression::Quic,
            d::IMAGE_COMPRESSION_GLZ => Compression::Glz,
            d::IMAGE_COMPRESSION_LZ => Compression::Lz,
            d::IMAGE_COMPRESSION_LZ4 => Compression::Lz4,
            _ => return None,
        })
    }

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
/// `SpiceBitmapFmt` RGBA: B,G,R,A.
const BITMAP_FMT_RGBA: u8 = 9;

/// Input bytes per LZ4 block. Blocks are independent; whole rows per block
/// keep the decoder's output contiguous.
const LZ4_BLOCK_BYTES: usize = 256 * 1024;

/// An encoded image ready to be placed in a draw message.
pub enum Encoded {
    Bitmap {
        stride: u32,
        pixels: Vec<u8>,
    },
    Lz4(Vec<u8>),
    Quic(Vec<u8>),
    Lz(Vec<u8>),
    Glz(Vec<u8>),
    /// A GLZ stream deflated with zlib; `glz_size` is its inflated length.
    ZlibGlz {
        glz_size: u32,
        data: Vec<u8>,
    },
    /// A JFIF stream: lossy.
    Jpeg(Vec<u8>),
    /// Lossy colours and exact alpha: the JPEG (`jpeg_size` bytes), then
    /// the alpha plane as XXXA LZ.
    JpegAlpha {
        jpeg_size: u32,
        data: Vec<u8>,
    },
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
            Encoded::ZlibGlz { glz_size, data } => ImageData::ZlibGlzRgb {
                glz_data_size: *glz_size,
                data,
            },
            Encoded::Jpeg(data) => ImageData::Jpeg { data },
            Encoded::JpegAlpha { jpeg_size, data } => ImageData::JpegAlpha {
                top_down: true,
                jpeg_size: *jpeg_size,
                data,
            },
        }
    }

    /// Whether the client gets an approximation of the pixels, not the
    /// pixels: such an image must not stand in for a lossless copy.
    pub fn is_lossy(&self) -> bool {
        matches!(self, Encoded::Jpeg(_) | Encoded::JpegAlpha { .. })
    }

    /// Bytes of the codec stream (or pixels), without the image descriptor
    /// and length fields.
    pub fn stream_len(&self) -> usize {
        match self {
            Encoded::Bitmap { pixels: d, .. }
            | Encoded::Lz4(d)
            | Encoded::Quic(d)
            | Encoded::Lz(d)
            | Encoded::Glz(d)
            | Encoded::Jpeg(d)
            | Encoded::ZlibGlz { data: d, .. }
            | Encoded::JpegAlpha { data: d, .. } => d.len(),
        }
    }

    /// The codec's name, as logs and traces give it.
    pub fn codec_name(&self) -> &'static str {
        match self {
            Encoded::Bitmap { .. } => "bitmap",
            Encoded::Lz4(_) => "lz4",
            Encoded::Quic(_) => "quic",
            Encoded::Lz(_) => "lz",
            Encoded::Glz(_) => "glz",
            Encoded::ZlibGlz { .. } => "zlib_glz",
            Encoded::Jpeg(_) => "jpeg",
            Encoded::JpegAlpha { .. } => "jpeg_alpha",
        }
    }
}

/// Builds an LZ4 image stream: u8 top_down, u8 format (32BIT, or RGBA when
/// the fourth byte is alpha), then blocks of a big-endian u32 length and an
/// LZ4 block.
pub fn lz4_stream(pixels: &[u8], width: u32, alpha: bool) -> Vec<u8> {
    let row = (width as usize).max(1) * 4;
    let rows_per_block = (LZ4_BLOCK_BYTES / row).max(1);
    let mut out = Vec::with_capacity(pixels.len() / 4 + 64);
    out.push(1); // top-down
    out.push(if alpha {
        BITMAP_FMT_RGBA
    } else {
        BITMAP_FMT_32BIT
    });
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

/// A codec the mode picks before the WAN settings have their say: JPEG
/// may replace QUIC, ZLIB_GLZ may wrap GLZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Quic,
    Lz,
    Glz,
}

impl Base {
    fn name(self) -> &'static str {
        match self {
            Base::Quic => "quic",
            Base::Lz => "lz",
            Base::Glz => "glz",
        }
    }
}

/// What the WAN settings did to one image, for the auto-choice trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WanNote {
    /// No WAN codec applies to this codec on this link.
    None,
    /// JPEG replaced QUIC under this setting (`Auto` only applies on a
    /// low-bandwidth link).
    Jpeg(WanSetting),
    /// JPEG came out no smaller than the bitmap; QUIC went instead.
    JpegLargerThanBitmap(WanSetting),
    /// The deflated GLZ stream was smaller and went instead.
    Zlib(WanSetting),
    /// Deflating did not make the GLZ stream smaller (or it was too short
    /// to try); the plain GLZ stream went.
    ZlibNotSmaller(WanSetting),
}

/// The outcome of one codec run.
struct Attempt {
    /// The codec a failure is logged under.
    codec: &'static str,
    result: Result<Encoded, CodecError>,
    wan: WanNote,
}

impl Attempt {
    fn plain(codec: &'static str, result: Result<Encoded, CodecError>) -> Self {
        Self {
            codec,
            result,
            wan: WanNote::None,
        }
    }
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

    /// Continues a dead worker's GLZ image numbering at `first_id` with a
    /// fresh dictionary; call before the first image.
    pub fn resume_glz_at(&mut self, first_id: u64) {
        self.glz = GlzEncoder::starting_at(self.client.glz_window, first_id);
    }

    /// The id of the next GLZ image, when this client gets GLZ at all.
    pub fn glz_next_id(&self) -> Option<u64> {
        (self.client.glz_window > 0).then(|| self.glz.next_id())
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

    /// Encodes packed B,G,R,X rows of `width` pixels (B,G,R,A when
    /// `alpha`: the fourth byte is then kept exactly, or as JPEG_ALPHA's
    /// exact alpha plane).
    pub fn encode(&mut self, pixels: Vec<u8>, width: u32, alpha: bool) -> Encoded {
        let height = u32::try_from(pixels.len() / 4 / (width.max(1) as usize)).unwrap_or(0);
        // Shared so that the GLZ window can keep the image without a copy.
        let shared = Arc::new(pixels);
        let img = Pixels {
            width,
            height,
            data: &shared,
            alpha,
        };
        let attempt = self.encode_image(&img, &shared);
        // The window keeps `shared` only when GLZ succeeded, and then no
        // bitmap needs the pixels: taking them back is not a copy.
        let pixels = || Arc::try_unwrap(shared).unwrap_or_else(|kept| (*kept).clone());
        match attempt {
            Some(Attempt {
                result: Ok(encoded),
                ..
            }) => encoded,
            Some(Attempt {
                codec,
                result: Err(error),
                ..
            }) => {
                if !self.failed.contains(&codec) {
                    self.failed.push(codec);
                    tracing::warn!(codec, %error, width, height, "encoder failed; sending a plain bitmap");
                }
                Encoded::Bitmap {
                    stride: width * 4,
                    pixels: pixels(),
                }
            }
            None => Encoded::Bitmap {
                stride: width * 4,
                pixels: pixels(),
            },
        }
    }

    /// Codes `img` (whose bytes are `shared`) as the mode and the WAN
    /// settings say; `None` for a plain bitmap.
    fn encode_image(&mut self, img: &Pixels, shared: &Arc<Vec<u8>>) -> Option<Attempt> {
        let glz_ok = self.client.glz_window > 0;
        let base = match self.mode {
            Compression::Off => return None,
            Compression::Lz4 if self.client.lz4 => {
                let stream = lz4_stream(img.data, img.width, img.alpha);
                return Some(Attempt::plain("lz4", Ok(Encoded::Lz4(stream))));
            }
            Compression::Lz4 => return None,
            Compression::Quic => Base::Quic,
            Compression::Lz => Base::Lz,
            Compression::Glz if glz_ok => Base::Glz,
            Compression::Glz => Base::Lz,
            Compression::AutoLz | Compression::AutoGlz => {
                return Some(self.encode_auto(img, shared))
            }
        };
        Some(self.encode_base(base, img, shared))
    }

    /// The auto modes: QUIC (or what replaces it) for photographic content,
    /// GLZ or LZ for the rest; the choice and what the WAN settings did to
    /// it are traced.
    fn encode_auto(&mut self, img: &Pixels, shared: &Arc<Vec<u8>>) -> Attempt {
        let (content, percent) = classify(img);
        let dictionary = self.mode == Compression::AutoGlz && self.client.glz_window > 0;
        let base = match (content, dictionary) {
            (Content::Photographic, _) => Base::Quic,
            (Content::Synthetic, true) => Base::Glz,
            (Content::Synthetic, false) => Base::Lz,
        };
        let attempt = self.encode_base(base, img, shared);
        let sent = attempt
            .result
            .as_ref()
            .map_or("bitmap", Encoded::codec_name);
        let lossy = attempt.result.as_ref().is_ok_and(Encoded::is_lossy);
        tracing::debug!(
            width = img.width,
            height = img.height,
            repeated_neighbours = percent,
            ?content,
            codec = base.name(),
            sent,
            lossy,
            wan = ?attempt.wan,
            low_bandwidth = self.low_bandwidth,
            "auto compression choice"
        );
        attempt
    }

    /// Runs `base`, or the WAN codec that replaces or wraps it here.
    fn encode_base(&mut self, base: Base, img: &Pixels, shared: &Arc<Vec<u8>>) -> Attempt {
        match base {
            Base::Quic if self.wan.jpeg.applies(self.low_bandwidth) => self.encode_jpeg(img),
            Base::Quic => Attempt::plain("quic", quic::encode(img).map(Encoded::Quic)),
            Base::Lz => Attempt::plain("lz", lz::encode(img).map(Encoded::Lz)),
            Base::Glz => self.encode_glz(img, shared),
        }
    }

    /// JPEG (JPEG_ALPHA when the image has alpha) in place of QUIC. Where
    /// the JPEG would not beat the bitmap (small images: its tables alone
    /// take some 600 bytes) QUIC goes instead, lossless.
    fn encode_jpeg(&self, img: &Pixels) -> Attempt {
        let setting = self.wan.jpeg;
        let (codec, result) = if img.alpha {
            let coded = jpeg::encode_with_alpha(img, jpeg::DEFAULT_QUALITY);
            let result = coded.map(|j| Encoded::JpegAlpha {
                jpeg_size: j.jpeg_size,
                data: j.data,
            });
            ("jpeg_alpha", result)
        } else {
            let coded = jpeg::encode(img, jpeg::DEFAULT_QUALITY);
            ("jpeg", coded.map(Encoded::Jpeg))
        };
        match result {
            Ok(encoded) if encoded.stream_len() >= img.data.len() => Attempt {
                codec: "quic",
                result: quic::encode(img).map(Encoded::Quic),
                wan: WanNote::JpegLargerThanBitmap(setting),
            },
            result => Attempt {
                codec,
                result,
                wan: WanNote::Jpeg(setting),
            },
        }
    }

    /// GLZ, deflated when the setting applies and that is smaller. The image
    /// enters the dictionary once, whichever stream goes: the client
    /// inflates ZLIB_GLZ back to the same GLZ stream.
    fn encode_glz(&mut self, img: &Pixels, shared: &Arc<Vec<u8>>) -> Attempt {
        let held = Arc::clone(shared);
        let glz = match self
            .glz
            .encode_shared(held, img.width, img.height, img.alpha)
        {
            Ok(glz) => glz,
            Err(error) => return Attempt::plain("glz", Err(error)),
        };
        let setting = self.wan.zlib_glz;
        if !setting.applies(self.low_bandwidth) {
            return Attempt::plain("glz", Ok(Encoded::Glz(glz)));
        }
        match zlib::wrap(&glz) {
            Ok(Some(z)) => Attempt {
                codec: "zlib_glz",
                result: Ok(Encoded::ZlibGlz {
                    glz_size: z.glz_size,
                    data: z.data,
                }),
                wan: WanNote::Zlib(setting),
            },
            Ok(None) => Attempt {
                codec: "glz",
                result: Ok(Encoded::Glz(glz)),
                wan: WanNote::ZlibNotSmaller(setting),
            },
            Err(error) => {
                // The image already took its dictionary id: it must go out,
                // so the GLZ stream does, and the failure is only logged.
                if !self.failed.contains(&"zlib_glz") {
                    self.failed.push("zlib_glz");
                    tracing::warn!(%error, "zlib failed; sending plain GLZ");
                }
                Attempt::plain("glz", Ok(Encoded::Glz(glz)))
            }
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
        assert!([BITMAP_FMT_32BIT, BITMAP_FMT_RGBA].contains(&stream[1]));
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
        let stream = lz4_stream(&pixels, width as u32, false);
        assert_eq!(stream[1], BITMAP_FMT_32BIT);
        assert_eq!(decode(&stream), pixels);
        // With alpha only the declared format changes: the bytes are kept.
        let stream = lz4_stream(&pixels, width as u32, true);
        assert_eq!(stream[1], BITMAP_FMT_RGBA);
        assert_eq!(decode(&stream), pixels);
    }

    #[test]
    fn off_and_lz4_without_cap_are_bitmaps() {
        let no_lz4 = ClientCodecs {
            lz4: false,
            glz_window: 0,
        };
        let e = Encoder::new(Compression::Lz4, no_lz4, WanOptions::default()).encode(
            vec![0; 16],
            2,
            false,
        );
        assert!(matches!(e, Encoded::Bitmap { stride: 8, .. }));
        let lz4 = ClientCodecs {
            lz4: true,
            glz_window: 0,
        };
        let e = Encoder::new(Compression::Off, lz4, WanOptions::default()).encode(
            vec![0; 16],
            2,
            false,
        );
        assert!(matches!(e, Encoded::Bitmap { .. }));
        let e = Encoder::new(Compression::Lz4, lz4, WanOptions::default()).encode(
            vec![0; 16],
            2,
            false,
        );
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
        let noisy = crate::codec::test_noise(12345, 128 * 128 * 4);
        let img = Pixels {
            width: 128,
            height: 128,
            data: &noisy,
            alpha: false,
        };
        assert_eq!(classify(&img).0, Content::Photographic);
    }

    // --- WAN codecs: JPEG in place of QUIC, ZLIB_GLZ around GLZ ---

    use crate::codec::jpeg::tests::{decode as jpeg_decode, photo_like, psnr};
    use crate::codec::zlib::tests::inflate;
    use proptest::prelude::*;

    /// Lowest PSNR accepted for a photographic image sent through the
    /// encoder as JPEG. Measured: 39.9 dB on `photo_like(200, 150, 11)`.
    const MIN_PSNR_DB: f64 = 37.0;

    const GLZ_CLIENT: ClientCodecs = ClientCodecs {
        lz4: true,
        glz_window: 1 << 20,
    };

    /// Screen-like pixels: runs of a few colours, so GLZ leaves mostly
    /// short literals that deflate shrinks further.
    fn ui_like(width: u32, height: u32, seed: u32) -> Vec<u8> {
        let palette = [
            [250, 250, 250, 0],
            [30, 30, 30, 0],
            [200, 120, 40, 0],
            [90, 160, 220, 0],
        ];
        let mut out = Vec::with_capacity((width * height * 4) as usize);
        for y in 0..height {
            for x in 0..width {
                let h = (x / 3).wrapping_mul(2_654_435_761) ^ (y / 2 + seed).wrapping_mul(40_503);
                out.extend_from_slice(&palette[(h >> 13) as usize % palette.len()]);
            }
        }
        out
    }

    fn encoder(mode: Compression, jpeg: WanSetting, zlib_glz: WanSetting, low: bool) -> Encoder {
        let mut e = Encoder::new(mode, GLZ_CLIENT, WanOptions { jpeg, zlib_glz });
        e.set_low_bandwidth(low);
        e
    }

    /// Every WAN setting with every link kind, and whether it applies.
    const SETTINGS: [(WanSetting, bool, bool); 6] = [
        (WanSetting::Never, false, false),
        (WanSetting::Never, true, false),
        (WanSetting::Always, false, true),
        (WanSetting::Always, true, true),
        (WanSetting::Auto, false, false),
        (WanSetting::Auto, true, true),
    ];

    #[test]
    fn jpeg_replaces_quic_where_the_setting_applies() {
        let photo = photo_like(200, 150, 11);
        for mode in [Compression::Quic, Compression::AutoGlz, Compression::AutoLz] {
            for (setting, low, applies) in SETTINGS {
                let e = encoder(mode, setting, WanSetting::Never, low).encode(
                    photo.clone(),
                    200,
                    false,
                );
                let what = format!("{mode:?} jpeg={setting:?} low_bandwidth={low}");
                assert_eq!(
                    e.codec_name(),
                    if applies { "jpeg" } else { "quic" },
                    "{what}"
                );
                assert_eq!(e.is_lossy(), applies, "{what}");
            }
        }
    }

    #[test]
    fn jpeg_leaves_other_codecs_alone() {
        let ui = ui_like(200, 150, 1);
        for (mode, expect) in [
            (Compression::AutoGlz, "glz"),
            (Compression::AutoLz, "lz"),
            (Compression::Lz, "lz"),
            (Compression::Lz4, "lz4"),
            (Compression::Off, "bitmap"),
        ] {
            let e = encoder(mode, WanSetting::Always, WanSetting::Never, true).encode(
                ui.clone(),
                200,
                false,
            );
            assert_eq!(e.codec_name(), expect, "{mode:?}");
            assert!(!e.is_lossy());
        }
    }

    #[test]
    fn jpeg_pictures_decode_close_to_the_source() {
        let photo = photo_like(200, 150, 11);
        let e = encoder(
            Compression::Quic,
            WanSetting::Always,
            WanSetting::Never,
            false,
        )
        .encode(photo.clone(), 200, false);
        let Encoded::Jpeg(stream) = &e else {
            panic!("{} sent", e.codec_name());
        };
        assert!(matches!(e.as_image_data(), ImageData::Jpeg { .. }));
        let (w, h, out) = jpeg_decode(stream).expect("decode");
        assert_eq!((w, h), (200, 150));
        let db = psnr(&photo, &out);
        assert!(db >= MIN_PSNR_DB, "{db:.2} dB");
    }

    #[test]
    fn small_images_keep_quic_when_jpeg_would_be_larger() {
        // 8x8 pixels are 256 bytes; the JPEG tables alone are larger.
        let tiny = photo_like(8, 8, 3);
        let e = encoder(
            Compression::Quic,
            WanSetting::Always,
            WanSetting::Never,
            false,
        )
        .encode(tiny, 8, false);
        assert_eq!(e.codec_name(), "quic");
        assert!(!e.is_lossy());
    }

    #[test]
    fn images_with_alpha_go_as_jpeg_alpha() {
        let mut data = photo_like(120, 90, 5);
        for (k, px) in data.chunks_exact_mut(4).enumerate() {
            px[3] = (k % 120 * 2) as u8;
        }
        let shared = Arc::new(data);
        let img = Pixels {
            width: 120,
            height: 90,
            data: &shared,
            alpha: true,
        };
        let mut e = encoder(
            Compression::Quic,
            WanSetting::Always,
            WanSetting::Never,
            false,
        );
        let attempt = e.encode_image(&img, &shared).expect("an attempt");
        let encoded = attempt.result.expect("encoded");
        assert!(encoded.is_lossy());
        let ImageData::JpegAlpha {
            top_down: true,
            jpeg_size,
            data: payload,
        } = encoded.as_image_data()
        else {
            panic!("{} sent", encoded.codec_name());
        };
        let (w, h, colours) = jpeg_decode(&payload[..jpeg_size as usize]).expect("jpeg part");
        assert_eq!((w, h), (120, 90));
        assert!(psnr(&shared, &colours) >= MIN_PSNR_DB);
        // The alpha stream: an LZ header of type XXXA (10), top-down.
        let alpha = &payload[jpeg_size as usize..];
        assert_eq!(&alpha[8..12], &10u32.to_be_bytes());
        assert_eq!(&alpha[24..28], &1u32.to_be_bytes());
    }

    #[test]
    fn zlib_wraps_glz_where_the_setting_applies() {
        let ui = ui_like(256, 128, 2);
        for mode in [Compression::Glz, Compression::AutoGlz] {
            for (setting, low, applies) in SETTINGS {
                let e =
                    encoder(mode, WanSetting::Never, setting, low).encode(ui.clone(), 256, false);
                assert_eq!(
                    e.codec_name(),
                    if applies { "zlib_glz" } else { "glz" },
                    "{mode:?} zlib_glz={setting:?} low_bandwidth={low}"
                );
            }
        }
        // Without a client dictionary GLZ is LZ, which zlib does not wrap.
        let mut e = Encoder::new(
            Compression::Glz,
            ClientCodecs::default(),
            WanOptions {
                jpeg: WanSetting::Never,
                zlib_glz: WanSetting::Always,
            },
        );
        assert_eq!(e.encode(ui, 256, false).codec_name(), "lz");
    }

    #[test]
    fn zlib_glz_is_sent_only_when_smaller() {
        // Noise: GLZ is all literals and deflate cannot shrink them.
        let noise = crate::codec::test_noise(7, 64 * 64 * 4);
        let e = encoder(
            Compression::Glz,
            WanSetting::Never,
            WanSetting::Always,
            false,
        )
        .encode(noise, 64, false);
        assert_eq!(e.codec_name(), "glz");
    }

    /// Runs `frames` through an encoder with ZLIB_GLZ always on and through a
    /// bare GLZ encoder: every image must inflate (or be) exactly the GLZ
    /// stream of the bare one, so the client decodes the same pixels and its
    /// window stays the one the dictionary mirrors (the GLZ round trip
    /// itself is proved in codec::glz). Returns how many were wrapped.
    fn zlib_matches_plain_glz(window: u32, frames: &[(u32, Vec<u8>)]) -> usize {
        let client = ClientCodecs {
            lz4: false,
            glz_window: window,
        };
        let wan = WanOptions {
            jpeg: WanSetting::Never,
            zlib_glz: WanSetting::Always,
        };
        let mut wrapped = Encoder::new(Compression::Glz, client, wan);
        let mut bare = GlzEncoder::new(window);
        let mut count = 0;
        for (k, (width, data)) in frames.iter().enumerate() {
            let img = Pixels {
                width: *width,
                height: (data.len() / 4 / *width as usize) as u32,
                data,
                alpha: false,
            };
            let plain = bare.encode(&img).expect("glz");
            match wrapped.encode(data.clone(), *width, false) {
                Encoded::ZlibGlz { glz_size, data } => {
                    assert_eq!(glz_size as usize, plain.len(), "frame {k}");
                    assert!(data.len() + 4 < plain.len(), "frame {k} not smaller");
                    assert!(
                        inflate(&data, glz_size).expect("inflate") == plain,
                        "frame {k}"
                    );
                    count += 1;
                }
                Encoded::Glz(stream) => assert!(stream == plain, "frame {k}"),
                other => panic!("frame {k}: {} sent", other.codec_name()),
            }
        }
        count
    }

    #[test]
    fn zlib_glz_keeps_the_dictionary_in_step() {
        let frames: Vec<_> = (0..12)
            .map(|k| {
                let w = if k % 3 == 0 { 90 } else { 160 };
                (w, ui_like(w, 100, k / 2))
            })
            .collect();
        let wrapped = zlib_matches_plain_glz(160 * 100 * 3, &frames);
        assert!(wrapped >= 6, "only {wrapped} of 12 wrapped");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn random_zlib_glz_sequences_round_trip(
            window in 0u32..40_000,
            specs in proptest::collection::vec((1u32..120, 1u32..60, any::<u32>(), any::<bool>()), 1..16),
        ) {
            let frames: Vec<_> = specs
                .iter()
                .map(|&(w, h, seed, photo)| {
                    let data = if photo { photo_like(w, h, u64::from(seed)) } else { ui_like(w, h, seed) };
                    (w, data)
                })
                .collect();
            zlib_matches_plain_glz(window, &frames);
        }
    }
}
