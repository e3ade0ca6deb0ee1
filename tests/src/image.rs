//! RGB pictures: a bounds-checked binary PPM (P6) reader and writer, and a
//! pixel-exact comparison that explains itself.

use std::fmt;
use std::path::{Path, PathBuf};

/// Largest width or height accepted from a PPM file. SPICE surfaces are far
/// smaller; the bound only keeps a corrupt header from asking for gigabytes.
pub const MAX_DIMENSION: u32 = 16384;

/// An 8-bit RGB picture, rows top to bottom, 3 bytes per pixel, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Image({}x{}, {} bytes)",
            self.width,
            self.height,
            self.rgb.len()
        )
    }
}

/// Why a PPM file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PpmError {
    /// The file does not start with `P6`.
    #[error("not a binary PPM (P6) file")]
    NotP6,
    /// The header ended early or holds something that is not a number.
    #[error("malformed PPM header: {0}")]
    BadHeader(&'static str),
    /// Width or height is 0 or above [`MAX_DIMENSION`].
    #[error("unsupported PPM size {0}x{1}")]
    BadSize(u32, u32),
    /// Only maxval 255 (one byte per sample) is supported.
    #[error("unsupported PPM maxval {0} (only 255)")]
    BadMaxval(u32),
    /// Fewer pixel bytes than the header announced.
    #[error("PPM pixel data truncated: {have} of {need} bytes")]
    Truncated {
        /// Bytes present after the header.
        have: usize,
        /// Bytes the header announced.
        need: usize,
    },
}

impl Image {
    /// A picture of one colour.
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> Image {
        let n = width as usize * height as usize;
        Image {
            width,
            height,
            rgb: rgb.iter().copied().cycle().take(n * 3).collect(),
        }
    }

    /// The pixel at (x, y), or `None` outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        let p = self.rgb.get(i..i + 3)?;
        Some([p[0], p[1], p[2]])
    }

    /// Number of distinct colours, counted up to `limit` (cheap check that a
    /// picture is not a blank screen).
    pub fn distinct_colours(&self, limit: usize) -> usize {
        let mut seen = std::collections::HashSet::new();
        for p in self.rgb.chunks_exact(3) {
            seen.insert([p[0], p[1], p[2]]);
            if seen.len() >= limit {
                break;
            }
        }
        seen.len()
    }

    /// Parses a binary PPM (P6, maxval 255). Comments (`#` to end of line)
    /// are allowed between header fields. Extra bytes after the pixel data
    /// are ignored.
    pub fn from_ppm(data: &[u8]) -> Result<Image, PpmError> {
        if data.len() < 2 || &data[..2] != b"P6" {
            return Err(PpmError::NotP6);
        }
        let mut pos = 2;
        let width = ppm_number(data, &mut pos)?;
        let height = ppm_number(data, &mut pos)?;
        let maxval = ppm_number(data, &mut pos)?;
        if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(PpmError::BadSize(width, height));
        }
        if maxval != 255 {
            return Err(PpmError::BadMaxval(maxval));
        }
        // Exactly one whitespace byte separates maxval from the pixels.
        match data.get(pos) {
            Some(c) if c.is_ascii_whitespace() => pos += 1,
            _ => return Err(PpmError::BadHeader("no whitespace after maxval")),
        }
        let need = width as usize * height as usize * 3;
        let have = data.len() - pos;
        if have < need {
            return Err(PpmError::Truncated { have, need });
        }
        Ok(Image {
            width,
            height,
            rgb: data[pos..pos + need].to_vec(),
        })
    }

    /// Reads and parses a PPM file.
    pub fn read_ppm(path: &Path) -> Result<Image, String> {
        let data = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        Image::from_ppm(&data).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Encodes as a binary PPM.
    pub fn to_ppm(&self) -> Vec<u8> {
        let mut out = format!("P6\n{} {}\n255\n", self.width, self.height).into_bytes();
        out.extend_from_slice(&self.rgb);
        out
    }

    /// Writes a binary PPM file.
    pub fn save_ppm(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_ppm())
    }
}

/// Skips whitespace and comments, then reads one decimal number.
fn ppm_number(data: &[u8], pos: &mut usize) -> Result<u32, PpmError> {
    loop {
        match data.get(*pos) {
            Some(c) if c.is_ascii_whitespace() => *pos += 1,
            Some(b'#') => {
                while let Some(&c) = data.get(*pos) {
                    *pos += 1;
                    if c == b'\n' {
                        break;
                    }
                }
            }
            Some(_) => break,
            None => return Err(PpmError::BadHeader("header ends early")),
        }
    }
    let start = *pos;
    let mut value: u32 = 0;
    while let Some(&c) = data.get(*pos) {
        if !c.is_ascii_digit() {
            break;
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(c - b'0')))
            .ok_or(PpmError::BadHeader("number too large"))?;
        *pos += 1;
    }
    if *pos == start {
        return Err(PpmError::BadHeader("expected a number"));
    }
    Ok(value)
}

/// One pixel that differs between two pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelDiff {
    /// Column.
    pub x: u32,
    /// Row.
    pub y: u32,
    /// The pixel in the first (expected) picture.
    pub expected: [u8; 3],
    /// The pixel in the second (actual) picture.
    pub actual: [u8; 3],
}

/// The result of [`diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDiff {
    /// Sizes of the two pictures, (expected, actual).
    pub sizes: ((u32, u32), (u32, u32)),
    /// Number of differing pixels (0 when sizes differ: nothing is compared).
    pub differing: usize,
    /// The first few differing pixels, in row order.
    pub first: Vec<PixelDiff>,
    /// Bounding box of all differing pixels: (left, top, right, bottom), inclusive.
    pub bbox: Option<(u32, u32, u32, u32)>,
}

/// How many differing pixels [`diff`] lists.
pub const DIFF_LIST: usize = 10;

impl ImageDiff {
    /// True when both pictures have the same size and every pixel matches.
    pub fn is_equal(&self) -> bool {
        self.sizes.0 == self.sizes.1 && self.differing == 0
    }
}

impl fmt::Display for ImageDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ((ew, eh), (aw, ah)) = self.sizes;
        if (ew, eh) != (aw, ah) {
            return write!(f, "sizes differ: expected {ew}x{eh}, got {aw}x{ah}");
        }
        if self.differing == 0 {
            return write!(f, "pictures are equal ({ew}x{eh})");
        }
        write!(
            f,
            "{} of {} pixels differ",
            self.differing,
            ew as usize * eh as usize
        )?;
        if let Some((l, t, r, b)) = self.bbox {
            write!(f, " inside x {l}..={r}, y {t}..={b}")?;
        }
        write!(f, "; first:")?;
        for d in &self.first {
            write!(
                f,
                " ({},{}) expected #{:02x}{:02x}{:02x} got #{:02x}{:02x}{:02x};",
                d.x,
                d.y,
                d.expected[0],
                d.expected[1],
                d.expected[2],
                d.actual[0],
                d.actual[1],
                d.actual[2]
            )?;
        }
        Ok(())
    }
}

/// Compares two pictures pixel by pixel.
pub fn diff(expected: &Image, actual: &Image) -> ImageDiff {
    let sizes = (
        (expected.width, expected.height),
        (actual.width, actual.height),
    );
    let mut out = ImageDiff {
        sizes,
        differing: 0,
        first: Vec::new(),
        bbox: None,
    };
    if sizes.0 != sizes.1 || expected.rgb.len() != actual.rgb.len() {
        return out;
    }
    let w = expected.width.max(1) as usize;
    for (i, (e, a)) in expected
        .rgb
        .chunks_exact(3)
        .zip(actual.rgb.chunks_exact(3))
        .enumerate()
    {
        if e == a {
            continue;
        }
        let (x, y) = ((i % w) as u32, (i / w) as u32);
        out.differing += 1;
        if out.first.len() < DIFF_LIST {
            out.first.push(PixelDiff {
                x,
                y,
                expected: [e[0], e[1], e[2]],
                actual: [a[0], a[1], a[2]],
            });
        }
        out.bbox = Some(match out.bbox {
            None => (x, y, x, y),
            Some((l, t, r, b)) => (l.min(x), t.min(y), r.max(x), b.max(y)),
        });
    }
    out
}

/// Where pictures of failed comparisons are kept: `<target>/spicebox-test-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    crate::harness::target_dir().join("spicebox-test-artifacts")
}

/// Panics with a description of the difference unless the pictures are
/// equal. On a mismatch both pictures are written as PPM files under
/// [`artifacts_dir`] (named after `label`), and their paths are printed.
pub fn assert_same_image(label: &str, expected: &Image, actual: &Image) {
    let d = diff(expected, actual);
    if d.is_equal() {
        return;
    }
    save_pair(&format!("{label}: pictures differ"), expected, actual);
    panic!("{label}: {d}");
}

/// Peak signal-to-noise ratio of `actual` against `expected` over every R,
/// G and B sample, in dB: how close a lossy (JPEG) picture came. `None`
/// when the sizes differ; infinity when the pictures are equal.
pub fn psnr(expected: &Image, actual: &Image) -> Option<f64> {
    if (expected.width, expected.height) != (actual.width, actual.height)
        || expected.rgb.len() != actual.rgb.len()
    {
        return None;
    }
    let squared: u64 = expected
        .rgb
        .iter()
        .zip(&actual.rgb)
        .map(|(&e, &a)| u64::from(e.abs_diff(a)).pow(2))
        .sum();
    if squared == 0 {
        return Some(f64::INFINITY);
    }
    let mse = squared as f64 / expected.rgb.len() as f64;
    Some(10.0 * (255.0 * 255.0 / mse).log10())
}

/// Panics unless the pictures have the same size and a PSNR of at least
/// `min_db`; either way the PSNR is printed, so a run shows the margin. On
/// a failure both pictures are written under [`artifacts_dir`] as for
/// [`assert_same_image`].
pub fn assert_psnr_at_least(label: &str, expected: &Image, actual: &Image, min_db: f64) {
    let Some(db) = psnr(expected, actual) else {
        save_pair(label, expected, actual);
        panic!("{label}: {}", diff(expected, actual));
    };
    eprintln!("{label}: PSNR {db:.2} dB (at least {min_db} dB wanted)");
    if db < min_db {
        save_pair(label, expected, actual);
        panic!("{label}: PSNR {db:.2} dB is below {min_db} dB");
    }
}

/// Writes both pictures under [`artifacts_dir`], named after `label`, and
/// prints where.
fn save_pair(label: &str, expected: &Image, actual: &Image) {
    let dir = artifacts_dir();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_millis())
        .unwrap_or(0);
    // The label may carry a reason after a colon; files take the name only.
    let name = label.split(':').next().unwrap_or(label);
    let base = format!("{name}-{}-{stamp}", std::process::id());
    let exp_path = dir.join(format!("{base}-expected.ppm"));
    let act_path = dir.join(format!("{base}-actual.ppm"));
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|_| expected.save_ppm(&exp_path))
        .and_then(|_| actual.save_ppm(&act_path));
    match saved {
        Ok(()) => eprintln!(
            "{label}; saved\n  expected: {}\n  actual:   {}",
            exp_path.display(),
            act_path.display()
        ),
        Err(e) => eprintln!("{label}: could not save the pictures: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_measures_closeness() {
        let a = Image::filled(4, 4, [100, 100, 100]);
        assert_eq!(psnr(&a, &a), Some(f64::INFINITY));
        // Every sample off by 1: MSE 1, 20·log10(255) dB.
        let b = Image::filled(4, 4, [101, 99, 101]);
        let db = psnr(&a, &b).expect("same size");
        assert!((db - 48.1308).abs() < 1e-3, "{db}");
        assert_eq!(psnr(&a, &Image::filled(4, 3, [100, 100, 100])), None);
        assert_psnr_at_least("psnr-unit", &a, &b, 48.0);
    }

    #[test]
    #[should_panic(expected = "below")]
    fn psnr_assertion_fails_below_the_bound() {
        let a = Image::filled(2, 2, [0, 0, 0]);
        let b = Image::filled(2, 2, [40, 0, 0]);
        assert_psnr_at_least("psnr-unit-low", &a, &b, 30.0);
    }

    #[test]
    fn ppm_round_trip_with_comment() {
        let mut img = Image::filled(3, 2, [1, 2, 3]);
        img.rgb[15..18].copy_from_slice(&[9, 8, 7]);
        let mut data = b"P6\n# made by a test\n3 2\n255\n".to_vec();
        data.extend_from_slice(&img.rgb);
        assert_eq!(Image::from_ppm(&data).unwrap(), img);
        assert_eq!(Image::from_ppm(&img.to_ppm()).unwrap(), img);
        assert_eq!(img.pixel(2, 1), Some([9, 8, 7]));
        assert_eq!(img.pixel(3, 1), None);
    }

    #[test]
    fn ppm_rejects_bad_input() {
        assert_eq!(Image::from_ppm(b"P3\n1 1\n255\n"), Err(PpmError::NotP6));
        assert_eq!(
            Image::from_ppm(b"P6\n2 2\n255\n\x01\x02"),
            Err(PpmError::Truncated { have: 2, need: 12 })
        );
        assert_eq!(
            Image::from_ppm(b"P6\n99999999 2\n255\n"),
            Err(PpmError::BadSize(99_999_999, 2))
        );
        assert_eq!(
            Image::from_ppm(b"P6\n99999999999 2\n255\n"),
            Err(PpmError::BadHeader("number too large"))
        );
        assert_eq!(
            Image::from_ppm(b"P6\n1 1\n65535\n"),
            Err(PpmError::BadMaxval(65535))
        );
        assert_eq!(
            Image::from_ppm(b"P6\n1"),
            Err(PpmError::BadHeader("header ends early"))
        );
        assert_eq!(
            Image::from_ppm(b"P6\n0 1\n255\n"),
            Err(PpmError::BadSize(0, 1))
        );
    }

    #[test]
    fn diff_finds_pixels_and_sizes() {
        let a = Image::filled(4, 3, [0, 0, 0]);
        let mut b = a.clone();
        assert!(diff(&a, &b).is_equal());
        b.rgb[(2 * 4 + 1) * 3] = 255;
        b.rgb[3 * 3 + 2] = 7; // (3, 0)
        let d = diff(&a, &b);
        assert!(!d.is_equal());
        assert_eq!(d.differing, 2);
        assert_eq!(d.first[0].x, 3);
        assert_eq!(d.first[0].y, 0);
        assert_eq!(d.first[1].actual, [255, 0, 0]);
        assert_eq!(d.bbox, Some((1, 0, 3, 2)));
        let c = Image::filled(3, 4, [0, 0, 0]);
        let d = diff(&a, &c);
        assert!(!d.is_equal());
        assert!(d.to_string().contains("sizes differ"));
    }
}
