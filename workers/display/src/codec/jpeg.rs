//! JPEG images: SPICE `JPEG` (type 105) and `JPEG_ALPHA` (type 108).
//!
//! JPEG is a baseline JFIF stream. spice-gtk (`decode-jpeg.c`, libjpeg)
//! reads it as RGB and stores B,G,R,0, so the fourth input byte is dropped.
//! It is lossy: 4:2:0 chroma at quality 85 by default, the reference
//! server's setting, where photographs lose little that a viewer notices.
//!
//! JPEG_ALPHA (`SpiceJPEGAlphaData`: u8 flags, u32 jpeg_size, u32
//! data_size, data) carries the JPEG of the colours followed by the alpha
//! plane, exact, as an LZ stream of type XXXA. spice-common's
//! `canvas_get_jpeg_alpha` decodes the first `jpeg_size` bytes as JPEG,
//! the remaining `data_size - jpeg_size` as LZ, and refuses an LZ stream of
//! another type or of another width, height or orientation than the JPEG.

use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};

use super::{lz, CodecError, Pixels};

/// The reference server's default quality (1..=100).
pub const DEFAULT_QUALITY: u8 = 85;

/// libjpeg refuses wider or taller images (`JPEG_MAX_DIMENSION`).
const MAX_DIMENSION: u32 = 65_500;

/// Encodes the colours of `img` as a baseline JFIF stream at `quality`
/// (clamped to 1..=100).
pub fn encode(img: &Pixels, quality: u8) -> Result<Vec<u8>, CodecError> {
    let (width, height) = dimensions("jpeg", img)?;
    // Photographs at quality 85 take well under a byte per pixel.
    let mut out = Vec::with_capacity(img.data.len() / 8 + 1024);
    let mut encoder = Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    // Averaging each 2x2 block, as libjpeg does, keeps thin coloured lines
    // and text edges from taking the colour of one pixel in four.
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    // B,G,R,A input; the encoder ignores the fourth byte.
    encoder
        .encode(img.data, width, height, ColorType::Bgra)
        .map_err(|e| CodecError::Library {
            codec: "jpeg",
            reason: e.to_string(),
        })?;
    Ok(out)
}

/// A JPEG_ALPHA payload, top-down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegAlpha {
    /// How many leading bytes of `data` are the JPEG.
    pub jpeg_size: u32,
    /// The JPEG, then the XXXA LZ stream of the alpha plane.
    pub data: Vec<u8>,
}

/// Encodes `img` as JPEG_ALPHA: its colours as JPEG at `quality`, its
/// fourth bytes exactly, as LZ.
pub fn encode_with_alpha(img: &Pixels, quality: u8) -> Result<JpegAlpha, CodecError> {
    let mut data = encode(img, quality)?;
    let jpeg_size = u32::try_from(data.len()).map_err(|_| unsupported("jpeg-alpha", img))?;
    data.extend_from_slice(&lz::encode_alpha(img)?);
    // The whole payload's length is a u32 on the wire too.
    if u32::try_from(data.len()).is_err() {
        return Err(unsupported("jpeg-alpha", img));
    }
    Ok(JpegAlpha { jpeg_size, data })
}

/// Checks the buffer and that libjpeg accepts the size; returns the size
/// as the encoder takes it.
fn dimensions(codec: &'static str, img: &Pixels) -> Result<(u16, u16), CodecError> {
    img.check()?;
    if img.width > MAX_DIMENSION || img.height > MAX_DIMENSION {
        return Err(unsupported(codec, img));
    }
    let width = u16::try_from(img.width).map_err(|_| unsupported(codec, img))?;
    let height = u16::try_from(img.height).map_err(|_| unsupported(codec, img))?;
    Ok((width, height))
}

fn unsupported(codec: &'static str, img: &Pixels) -> CodecError {
    CodecError::Unsupported {
        codec,
        width: img.width,
        height: img.height,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::lz::tests::{decode as lz_decode, screen_like};
    use proptest::prelude::*;

    /// Lowest PSNR accepted on photographic content at the default
    /// quality. Measured: 40.0 to 40.1 dB on `photo_like(640, 480, 1..=4)`
    /// (1.6 bits per pixel).
    const MIN_PSNR_PHOTO_DB: f64 = 37.0;
    /// Lowest PSNR accepted on `screen_like` content: flat runs, copies and
    /// a fifth of isolated random pixels, JPEG's worst case (the reason it
    /// only replaces QUIC, which the auto modes keep for photographs).
    /// Measured: 17.5 dB on `screen_like(640, 480, 5)` (16.2 dB when chroma
    /// is subsampled by picking instead of averaging).
    const MIN_PSNR_SCREEN_DB: f64 = 15.0;

    /// Decodes a JPEG as libjpeg would for spice-gtk; returns width,
    /// height and B,G,R,0 pixels.
    pub(crate) fn decode(stream: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
        let mut decoder = jpeg_decoder::Decoder::new(stream);
        let rgb = decoder.decode().map_err(|e| e.to_string())?;
        let info = decoder.info().ok_or("no frame header")?;
        if info.pixel_format != jpeg_decoder::PixelFormat::RGB24 {
            return Err(format!("pixel format {:?}", info.pixel_format));
        }
        let bgrx = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0], 0])
            .collect();
        Ok((u32::from(info.width), u32::from(info.height), bgrx))
    }

    /// PSNR in dB over the B, G and R bytes of two B,G,R,X buffers
    /// (infinite when equal).
    pub(crate) fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let (mut sum, mut n) = (0f64, 0usize);
        for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
            for k in 0..3 {
                let d = f64::from(pa[k]) - f64::from(pb[k]);
                sum += d * d;
                n += 1;
            }
        }
        let mse = sum / n.max(1) as f64;
        if mse == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (255.0 * 255.0 / mse).log10()
        }
    }

    /// Photograph-like B,G,R,X pixels: smooth gradients, soft blobs,
    /// fine texture (foliage, fabric) and a little sensor noise, so few
    /// neighbours are equal.
    pub(crate) fn photo_like(width: u32, height: u32, seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let blobs: Vec<(f64, f64, f64, [f64; 3])> = (0..6)
            .map(|_| {
                let v = next().to_le_bytes();
                let x = f64::from(v[0]) / 255.0 * f64::from(width);
                let y = f64::from(v[1]) / 255.0 * f64::from(height);
                let r = (f64::from(v[2]) / 255.0 * 0.4 + 0.1) * f64::from(width.max(height));
                (x, y, r, [f64::from(v[3]), f64::from(v[4]), f64::from(v[5])])
            })
            .collect();
        let mut out = Vec::with_capacity(width as usize * height as usize * 4);
        for y in 0..height {
            for x in 0..width {
                let (fx, fy) = (f64::from(x), f64::from(y));
                let mut c = [
                    40.0 + 120.0 * fx / f64::from(width),
                    60.0 + 100.0 * fy / f64::from(height),
                    90.0,
                ];
                for &(bx, by, r, col) in &blobs {
                    let d2 = ((fx - bx).powi(2) + (fy - by).powi(2)) / (r * r);
                    let w = (-d2).exp();
                    for k in 0..3 {
                        c[k] = c[k] * (1.0 - w) + col[k] * w;
                    }
                }
                let texture = 14.0 * (fx * 0.9 + (fy * 0.21).sin() * 4.0).sin()
                    + 9.0 * (fy * 0.53 + fx * 0.17).sin() * (fx * 0.05).cos();
                let noise = next().to_le_bytes();
                let px: Vec<u8> = (0..3)
                    .map(|k| {
                        let v = c[k] + texture + f64::from(noise[k] % 7) - 3.0;
                        v.clamp(0.0, 255.0) as u8
                    })
                    .collect();
                out.extend_from_slice(&[px[0], px[1], px[2], 0xFF]);
            }
        }
        out
    }

    fn image(width: u32, height: u32, data: &[u8], alpha: bool) -> Pixels<'_> {
        Pixels {
            width,
            height,
            data,
            alpha,
        }
    }

    /// Encodes at the default quality, decodes, checks the size and
    /// returns the PSNR.
    fn round_trip_psnr(width: u32, height: u32, data: &[u8]) -> f64 {
        let stream = encode(&image(width, height, data, false), DEFAULT_QUALITY).expect("encode");
        let (w, h, out) = decode(&stream).expect("decode");
        assert_eq!((w, h), (width, height));
        psnr(data, &out)
    }

    #[test]
    fn photographs_keep_their_quality() {
        for seed in 1..=4 {
            let data = photo_like(640, 480, seed);
            let db = round_trip_psnr(640, 480, &data);
            assert!(db >= MIN_PSNR_PHOTO_DB, "seed {seed}: {db:.2} dB");
        }
    }

    #[test]
    fn screen_content_stays_legible() {
        let data = screen_like(640, 480, 5, false);
        let db = round_trip_psnr(640, 480, &data);
        assert!(db >= MIN_PSNR_SCREEN_DB, "{db:.2} dB");
    }

    #[test]
    fn photographs_shrink_well_below_lossless() {
        let data = photo_like(640, 480, 2);
        let img = image(640, 480, &data, false);
        let jpeg = encode(&img, DEFAULT_QUALITY).expect("jpeg");
        let quic = crate::codec::quic::encode(&img).expect("quic");
        // Measured: 1.6 bits per pixel for JPEG, 14.4 for QUIC.
        assert!(
            jpeg.len() * 3 < quic.len(),
            "jpeg {} quic {}",
            jpeg.len(),
            quic.len()
        );
    }

    #[test]
    fn stream_is_baseline_jfif() {
        let data = photo_like(33, 17, 3);
        let stream = encode(&image(33, 17, &data, false), DEFAULT_QUALITY).expect("encode");
        // SOI, then the JFIF APP0 segment.
        assert_eq!(&stream[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
        assert_eq!(&stream[6..11], b"JFIF\0");
        // Walk the header segments up to the scan: one frame header, and it
        // is baseline (SOF0), the one every libjpeg build decodes.
        let mut frames = Vec::new();
        let mut pos = 2;
        loop {
            assert_eq!(stream[pos], 0xFF, "segment at {pos}");
            let marker = stream[pos + 1];
            if marker == 0xDA {
                break;
            }
            if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                frames.push(marker);
            }
            pos += 2 + usize::from(u16::from_be_bytes([stream[pos + 2], stream[pos + 3]]));
        }
        assert_eq!(frames, [0xC0]);
        assert_eq!(&stream[stream.len() - 2..], &[0xFF, 0xD9]);
    }

    #[test]
    fn alpha_payload_splits_into_jpeg_and_exact_alpha() {
        let (w, h) = (97, 61);
        let mut data = photo_like(w, h, 4);
        // A soft-edged alpha ramp with fully transparent and opaque areas.
        for (k, px) in data.chunks_exact_mut(4).enumerate() {
            let x = k as u32 % w;
            px[3] = match x {
                0..20 => 0,
                20..60 => ((x - 20) * 6) as u8,
                _ => 255,
            };
        }
        let img = image(w, h, &data, true);
        let payload = encode_with_alpha(&img, DEFAULT_QUALITY).expect("encode");
        let (jpeg, alpha) = payload.data.split_at(payload.jpeg_size as usize);
        let (dw, dh, colours) = decode(jpeg).expect("jpeg part");
        assert_eq!((dw, dh), (w, h));
        assert!(psnr(&data, &colours) >= MIN_PSNR_PHOTO_DB);
        let (aw, ah, has_alpha, plane) = lz_decode(alpha).expect("alpha part");
        assert_eq!((aw, ah, has_alpha), (w, h, true));
        for (k, (got, want)) in plane.chunks_exact(4).zip(data.chunks_exact(4)).enumerate() {
            assert_eq!(got[3], want[3], "alpha of pixel {k}");
        }
    }

    #[test]
    fn edge_sizes_encode_and_decode() {
        // Partial MCUs on every side. Measured: 31.2 dB (15x17) to 52.9 dB
        // (1x1).
        for (w, h) in [
            (1, 1),
            (1, 9),
            (9, 1),
            (15, 17),
            (16, 16),
            (17, 15),
            (2000, 3),
        ] {
            let data = photo_like(w, h, u64::from(w * 7 + h));
            let db = round_trip_psnr(w, h, &data);
            assert!(db > 28.0, "{w}x{h}: {db:.2} dB");
        }
    }

    #[test]
    fn refuses_what_libjpeg_cannot_read() {
        let data = vec![0u8; 65_501 * 4];
        assert!(matches!(
            encode(&image(65_501, 1, &data, false), DEFAULT_QUALITY),
            Err(CodecError::Unsupported { .. })
        ));
        assert!(matches!(
            encode(&image(2, 2, &data[..12], false), DEFAULT_QUALITY),
            Err(CodecError::BadBuffer { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_images_decode_at_their_size(
            w in 1u32..80,
            h in 1u32..40,
            seed in any::<u64>(),
            photo in any::<bool>(),
            alpha in any::<bool>(),
            quality in 1u8..=100,
        ) {
            let data = if photo { photo_like(w, h, seed) } else { screen_like(w, h, seed, alpha) };
            let img = image(w, h, &data, alpha);
            if alpha {
                let payload = encode_with_alpha(&img, quality).expect("encode");
                let (jpeg, plane) = payload.data.split_at(payload.jpeg_size as usize);
                let (dw, dh, _) = decode(jpeg).expect("decode");
                prop_assert_eq!((dw, dh), (w, h));
                let (_, _, _, a) = lz_decode(plane).expect("alpha");
                let exact = a.chunks_exact(4).zip(data.chunks_exact(4)).all(|(x, y)| x[3] == y[3]);
                prop_assert!(exact);
            } else {
                let stream = encode(&img, quality).expect("encode");
                let (dw, dh, out) = decode(&stream).expect("decode");
                prop_assert_eq!((dw, dh), (w, h));
                prop_assert_eq!(out.len(), data.len());
            }
        }
    }
}
