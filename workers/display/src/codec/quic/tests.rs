use proptest::prelude::*;

use super::decode::decode;
use super::model::{BUCKET_OF, FAMILY, NBUCKETS, U2L};
use super::{avg4, encode, fold4, sub4, MAGIC, TYPE_RGB32, TYPE_RGBA};
use crate::codec::{CodecError, Pixels};

fn words(data: &[u8]) -> Vec<u32> {
    data.chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Encodes, decodes with the test decoder and compares (RGB only unless
/// `alpha`).
fn round_trip(width: u32, height: u32, data: &[u8], alpha: bool) -> Vec<u8> {
    let img = Pixels {
        width,
        height,
        data,
        alpha,
    };
    let enc = encode(&img).expect("encode");
    assert_eq!(enc.len() % 4, 0);
    let w = words(&enc);
    assert_eq!(w[0], MAGIC);
    assert_eq!(w[1], 0);
    assert_eq!(w[2], if alpha { TYPE_RGBA } else { TYPE_RGB32 });
    assert_eq!((w[3], w[4]), (width, height));
    let dec = decode(&enc).unwrap_or_else(|e| panic!("{width}x{height} alpha={alpha}: {e}"));
    assert_eq!((dec.width, dec.height, dec.alpha), (width, height, alpha));
    for (p, (a, b)) in data
        .chunks_exact(4)
        .zip(dec.data.chunks_exact(4))
        .enumerate()
    {
        let n = if alpha { 4 } else { 3 };
        assert_eq!(
            a[..n],
            b[..n],
            "{width}x{height} alpha={alpha}: pixel {} of row {}",
            p % width as usize,
            p / width as usize
        );
    }
    enc
}

/// Deterministic xorshift noise.
fn noise(n: usize, mut seed: u32) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as u8
        })
        .collect()
}

fn gradient(w: usize, h: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            v.extend_from_slice(&[(x * 3) as u8, (y * 2) as u8, (x + y) as u8, (x ^ y) as u8]);
        }
    }
    v
}

/// Desktop-like content: flat areas, bars, text-ish speckles, so runs,
/// segment splits and all code numbers get exercised.
fn synthetic(w: usize, h: usize, seed: u32) -> Vec<u8> {
    let n = noise(w * h, seed);
    let mut v = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let r = n[y * w + x];
            let px = if (y / 7) % 3 == 0 {
                [40, 40, 40, 255]
            } else if r < 20 {
                [r, r.wrapping_mul(7), 255 - r, r]
            } else if (x / 13) % 2 == 0 {
                [200, 180, 160, 128]
            } else {
                [(x + y) as u8, (x * 2) as u8, y as u8, 255]
            };
            v.extend_from_slice(&px);
        }
    }
    v
}

#[test]
fn tables_match_the_decoder_layout() {
    assert_eq!(NBUCKETS, 8);
    assert_eq!(BUCKET_OF[0], 0);
    assert_eq!((BUCKET_OF[1], BUCKET_OF[2], BUCKET_OF[3]), (1, 1, 2));
    assert_eq!((BUCKET_OF[126], BUCKET_OF[127], BUCKET_OF[255]), (6, 7, 7));
    assert_eq!(FAMILY.n_gr, [18, 36, 72, 144, 240, 224, 192, 128]);
    assert_eq!(FAMILY.alt_len[0], 26);
}

#[test]
fn packed_byte_arithmetic() {
    for x in 0..=255u32 {
        assert_eq!(
            fold4(x * 0x0101_0101),
            u32::from(U2L[x as usize]) * 0x0101_0101
        );
        for y in (0..=255u32).step_by(3) {
            let (a, b) = (
                x * 0x0100_0001 + 17 * 0x0001_0100,
                y * 0x0001_0001 + 200 * 0x0100_0100,
            );
            for k in 0..4 {
                let (p, q) = ((a >> (8 * k)) & 0xff, (b >> (8 * k)) & 0xff);
                assert_eq!((avg4(a, b) >> (8 * k)) & 0xff, (p + q) >> 1);
                assert_eq!((sub4(a, b) >> (8 * k)) & 0xff, p.wrapping_sub(q) & 0xff);
            }
        }
    }
}

#[test]
fn header_and_length() {
    let data = [1u8, 2, 3, 0];
    let enc = round_trip(1, 1, &data, false);
    let w = words(&enc);
    assert_eq!(&enc[..4], b"QUIC");
    assert_eq!(&w[..5], &[MAGIC, 0, 4, 1, 1]);
    // Three codewords fit one word; then the look-ahead zero word.
    assert_eq!(w.len(), 7);
    assert_eq!(w[6], 0);
    let enc = round_trip(1, 1, &[1, 2, 3, 4], true);
    assert_eq!(words(&enc)[2], 5);
}

#[test]
fn rejects_bad_buffers() {
    let img = Pixels {
        width: 2,
        height: 2,
        data: &[0; 12],
        alpha: false,
    };
    assert!(matches!(encode(&img), Err(CodecError::BadBuffer { .. })));
}

#[test]
fn fixed_shapes() {
    let sizes = [
        (1, 1),
        (1, 7),
        (7, 1),
        (2, 2),
        (3, 5),
        (333, 257),
        (2048, 3),
        (2049, 2),
        (4100, 3),
        (5000, 1),
        (1, 3000),
        (640, 40),
    ];
    for &(w, h) in &sizes {
        let n = w * h;
        for alpha in [false, true] {
            round_trip(w as u32, h as u32, &vec![0x5a; n * 4], alpha);
            round_trip(w as u32, h as u32, &noise(n * 4, 7 + n as u32), alpha);
            round_trip(w as u32, h as u32, &gradient(w, h), alpha);
            round_trip(w as u32, h as u32, &synthetic(w, h, 3), alpha);
        }
    }
}

#[test]
fn flat_image_is_small() {
    let (w, h) = (1024usize, 768usize);
    let enc = round_trip(w as u32, h as u32, &vec![0x80; w * h * 4], false);
    assert!(enc.len() < 4096, "{} bytes", enc.len());
}

fn image() -> impl Strategy<Value = (u32, u32, Vec<u8>, bool)> {
    (1u32..70, 1u32..40, 0u8..4, any::<bool>(), any::<u32>()).prop_map(
        |(w, h, kind, alpha, seed)| {
            let (wu, hu) = (w as usize, h as usize);
            let data = match kind {
                0 => noise(wu * hu * 4, seed | 1),
                1 => gradient(wu, hu),
                2 => synthetic(wu, hu, seed | 1),
                // Few colours: long and short runs everywhere.
                _ => noise(wu * hu * 4, seed | 1)
                    .iter()
                    .map(|b| b & 0x81)
                    .collect(),
            };
            (w, h, data, alpha)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn round_trips((w, h, data, alpha) in image()) {
        round_trip(w, h, &data, alpha);
    }

    #[test]
    fn round_trips_wide_rows(w in 2000u32..4500, alpha in any::<bool>(), seed in any::<u32>()) {
        let data = synthetic(w as usize, 3, seed | 1);
        round_trip(w, 3, &data, alpha);
    }
}

proptest! {
    /// Runs end at the first pixel that differs in the plane's bytes,
    /// wherever it falls in a compared block, whatever the other bytes.
    #[test]
    fn run_lengths_match_a_pixel_by_pixel_count(
        runs in proptest::collection::vec((1usize..20, 0u8..2), 0..8),
        other in proptest::collection::vec(any::<u8>(), 160),
    ) {
        let colours: Vec<u8> = runs.iter().flat_map(|&(n, c)| std::iter::repeat_n(c, n)).collect();
        let naive = |bytes: &[u8], mask: u32, v: u32| {
            bytes
                .chunks_exact(4)
                .take_while(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & mask == v & mask)
                .count()
        };
        // The colour in the plane's bytes, random bytes elsewhere.
        let rgb: Vec<u8> = colours.iter().zip(&other).flat_map(|(&c, &o)| [c, 0, 7, o]).collect();
        let alpha: Vec<u8> = colours.iter().zip(&other).flat_map(|(&c, &o)| [o, o, o, c]).collect();
        for start in [0u32, 1] {
            let v = start | 7 << 16;
            prop_assert_eq!(super::Plane::<3, 2>::run_length(&rgb, v), naive(&rgb, 0x00ff_ffff, v));
            let v = start << 24;
            prop_assert_eq!(super::Plane::<1, 3>::run_length(&alpha, v), naive(&alpha, 0xff00_0000, v));
        }
    }
}
