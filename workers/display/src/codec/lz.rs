//! LZ encoder (SPICE `LZ_RGB`): LZ77 in pixel units with FastLZ-style
//! control bytes, as decoded by spice-common's `lz_decode`.
//!
//! Stream: seven big-endian u32 (magic, version, type, width, height,
//! stride, top_down) then the body. A control byte below 32 starts `c + 1`
//! literal pixels (3 bytes B,G,R each; 1 byte in the alpha pass). Otherwise
//! it starts a match: its top 3 bits hold the biased length (7 = more length
//! bytes follow, each added until one is not 255), its low 5 bits the high
//! bits of the biased distance, whose low byte comes next; a distance field
//! of 8191 announces a far match whose distance minus 8192 follows as a
//! big-endian u16. RGBA images carry an RGB pass, then an alpha-only pass;
//! XXXA streams (the alpha plane of JPEG_ALPHA) carry the alpha pass alone.
//!
//! The match finder (shared with GLZ for its alpha pass) codes a run at
//! once; elsewhere it hashes three pixels (one entry per hash, with a check
//! that spares reading the pixels of a wrong candidate) and also tries the
//! previous pixel, the pixel above and the distance of the last match,
//! taking the candidate that saves most bytes. Only the last positions of
//! a match are hashed, and long literal stretches are searched sparsely.

use super::{CodecError, Pixels};

pub(super) const MAGIC: u32 = 0x2020_5A4C;
pub(super) const VERSION: u32 = 0x0001_0001;
pub(super) const TYPE_RGB32: u32 = 8;
pub(super) const TYPE_RGBA: u32 = 9;
/// Alpha only: the decoder writes the fourth byte of each pixel and leaves
/// the colour bytes alone.
pub(super) const TYPE_XXXA: u32 = 10;
/// The decoders refuse images of more bytes than this.
const MAX_IMAGE_BYTES: u64 = 1024 * 1024 * 1024 - 1;

/// At most this many literals follow one control byte.
pub(super) const MAX_COPY: usize = 32;
/// Distances up to this are coded in the control byte plus one byte.
const NEAR_DISTANCE: usize = 8191;
/// The farthest distance a far match can code.
const MAX_DISTANCE: usize = NEAR_DISTANCE + 1 + 0xFFFF;
/// Hash table size (log2) of the single-image match finder.
const HASH_BITS: u32 = 16;

/// Encodes `img` as an LZ_RGB stream (LZ type RGB32, or RGBA when
/// `img.alpha`), header included, top-down.
pub fn encode(img: &Pixels) -> Result<Vec<u8>, CodecError> {
    check_size("lz", img)?;
    let width = img.width as usize;
    let kind = if img.alpha { TYPE_RGBA } else { TYPE_RGB32 };
    SCRATCH.with(|scratch| {
        let Scratch { units, table } = &mut *scratch.borrow_mut();
        rgb_units_into(img, units);
        let mut out = Vec::with_capacity(28 + units.len() / 2);
        push_header(&mut out, kind, img);
        encode_units(units, width, &LzFormat { bias: 1 }, table, &mut out);
        if img.alpha {
            let alpha = alpha_units(img);
            encode_units(&alpha, width, &LzFormat { bias: 3 }, table, &mut out);
        }
        Ok(out)
    })
}

/// Buffers one thread's LZ encodes reuse: a 1080p frame's pixels take 8 MB,
/// and allocating them afresh each time costs page faults worth a tenth of
/// the encode.
#[derive(Default)]
struct Scratch {
    units: Vec<u32>,
    table: Vec<u64>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Encodes the fourth byte of every pixel of `img` alone as an LZ stream of
/// type XXXA, header included, top-down: the alpha plane JPEG_ALPHA carries
/// after its JPEG (spice-common's `canvas_get_jpeg_alpha` accepts no other
/// LZ type there).
pub fn encode_alpha(img: &Pixels) -> Result<Vec<u8>, CodecError> {
    check_size("lz-alpha", img)?;
    let alpha = alpha_units(img);
    let mut out = Vec::with_capacity(28 + alpha.len() / 4);
    push_header(&mut out, TYPE_XXXA, img);
    // The same pass, with the same length bias, as the alpha of RGBA.
    let mut table = Vec::new();
    let fmt = LzFormat { bias: 3 };
    encode_units(&alpha, img.width as usize, &fmt, &mut table, &mut out);
    Ok(out)
}

/// Appends the seven header words; the stride is always `width × 4` (the
/// decoder checks it against the type's 4 bytes per pixel) and the rows
/// top-down.
fn push_header(out: &mut Vec<u8>, kind: u32, img: &Pixels) {
    for word in [
        MAGIC,
        VERSION,
        kind,
        img.width,
        img.height,
        img.width * 4,
        1,
    ] {
        out.extend_from_slice(&word.to_be_bytes());
    }
}

/// Checks the buffer and that the decoders accept the size.
pub(super) fn check_size(codec: &'static str, img: &Pixels) -> Result<(), CodecError> {
    img.check()?;
    let bytes = u64::from(img.width) * u64::from(img.height) * 4;
    if bytes > MAX_IMAGE_BYTES {
        return Err(CodecError::Unsupported {
            codec,
            width: img.width,
            height: img.height,
        });
    }
    Ok(())
}

/// Replaces the contents of `units` with the pixels as 0x00RRGGBB words
/// (the pad or alpha byte cleared). Whole words and a mask, so the loop
/// vectorises.
pub(super) fn rgb_units_into(img: &Pixels, units: &mut Vec<u32>) {
    units.clear();
    units.extend(img.data.chunks_exact(4).map(|p| {
        let p: [u8; 4] = p.try_into().expect("chunk of 4");
        u32::from_le_bytes(p) & 0x00FF_FFFF
    }));
}

/// The alpha bytes of the pixels.
pub(super) fn alpha_units(img: &Pixels) -> Vec<u8> {
    img.data.chunks_exact(4).map(|p| p[3]).collect()
}

/// A unit of an LZ pass: an RGB pixel or an alpha byte.
pub(super) trait Unit: Copy + Eq {
    /// Bytes one literal takes in the stream.
    const LITERAL_BYTES: usize;
    /// Appends the literals.
    fn put_all(units: &[Self], out: &mut Vec<u8>);
    /// The unit as a word of at most 24 bits, for hashing and comparing
    /// (equal units, equal words).
    fn word(self) -> u32;
}

impl Unit for u32 {
    const LITERAL_BYTES: usize = 3;
    fn put_all(units: &[u32], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + 3 * units.len(), 0);
        for (dst, u) in out[start..].chunks_exact_mut(3).zip(units) {
            dst.copy_from_slice(&u.to_le_bytes()[..3]);
        }
    }
    fn word(self) -> u32 {
        self
    }
}

impl Unit for u8 {
    const LITERAL_BYTES: usize = 1;
    fn put_all(units: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(units);
    }
    fn word(self) -> u32 {
        u32::from(self)
    }
}

/// Hash-table index (`bits` wide, `bits < 32`) and 32-bit check of three
/// 24-bit words. The check, stored beside the position, rejects most
/// wrong candidates without reading the (likely uncached) pixels there.
pub(super) fn hash_check(a: u32, b: u32, c: u32, bits: u32) -> (usize, u32) {
    let x = (u64::from(a) | (u64::from(b) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(c).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let x = x ^ (x >> 29);
    ((x >> (64 - bits)) as usize, x as u32)
}

/// Length of the common prefix of `a` and `b`. Compares eight units at a
/// time: the union of their differences is one test the compiler keeps
/// in vector registers, instead of a call to `bcmp` or a compare per unit.
pub(super) fn common_len<T: Unit>(a: &[T], b: &[T]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut k = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let diff = x
            .iter()
            .zip(y)
            .fold(0, |u, (x, y)| u | (x.word() ^ y.word()));
        if diff != 0 {
            break;
        }
        k += 8;
    }
    k + a[k..]
        .iter()
        .zip(&b[k..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Units at the start of `p` equal to `v`.
pub(super) fn run_len<T: Unit>(p: &[T], v: T) -> usize {
    let mut k = 0;
    for c in p.chunks_exact(8) {
        if c.iter().fold(0, |u, x| u | (x.word() ^ v.word())) != 0 {
            break;
        }
        k += 8;
    }
    k + p[k..].iter().take_while(|&&x| x == v).count()
}

/// Hashes the last two positions of a match that ends at `end` (none
/// before `from`) into `table`, as later data most often repeats what
/// follows a match; the inside of a match is not hashed.
fn hash_tail<T: Unit>(table: &mut [u64], p: &[T], from: usize, end: usize) {
    for k in from.max(end.saturating_sub(2))..end.min(p.len().saturating_sub(2)) {
        let (h, check) = hash_check(p[k].word(), p[k + 1].word(), p[k + 2].word(), HASH_BITS);
        // Positions fit in 32 bits: images hold fewer than 2^28 pixels.
        table[h] = (u64::from(check) << 32) | k as u64;
    }
}

/// Appends `lits` as literal runs.
pub(super) fn push_literals<T: Unit>(out: &mut Vec<u8>, lits: &[T]) {
    out.reserve(lits.len() * T::LITERAL_BYTES + lits.len() / MAX_COPY + 1);
    for chunk in lits.chunks(MAX_COPY) {
        // A chunk holds 1..=32 units.
        out.push((chunk.len() - 1) as u8);
        T::put_all(chunk, out);
    }
}

/// Appends the `ext` length-extension bytes (each 255 means one more).
pub(super) fn push_length_ext(out: &mut Vec<u8>, mut ext: usize) {
    while ext >= 255 {
        out.push(255);
        ext -= 255;
    }
    out.push(ext as u8);
}

/// How one stream codes a match inside the image being coded.
pub(super) trait Format {
    /// The farthest distance it codes.
    fn max_distance(&self) -> usize;
    /// The shortest match it codes.
    fn min_len(&self) -> usize;
    /// Bytes a match takes.
    fn cost(&self, distance: usize, len: usize) -> usize;
    /// Appends a match (`min_len <= len`, `1 <= distance <= max_distance`).
    fn push_match(&self, out: &mut Vec<u8>, distance: usize, len: usize);
}

/// LZ matches; `bias` is 1 for the RGB pass and 3 for the alpha pass.
pub(super) struct LzFormat {
    pub bias: usize,
}

impl Format for LzFormat {
    fn max_distance(&self) -> usize {
        MAX_DISTANCE
    }
    fn min_len(&self) -> usize {
        self.bias
    }
    fn cost(&self, distance: usize, len: usize) -> usize {
        let stored = len - self.bias;
        let ext = if stored >= 6 {
            (stored - 6) / 255 + 1
        } else {
            0
        };
        let ofs = if distance <= NEAR_DISTANCE { 1 } else { 3 };
        1 + ext + ofs
    }
    fn push_match(&self, out: &mut Vec<u8>, distance: usize, len: usize) {
        let stored = len - self.bias;
        let field = distance - 1;
        let len_bits = (stored.min(6) as u8 + 1) << 5;
        if field < NEAR_DISTANCE {
            out.push(len_bits | (field >> 8) as u8);
            if stored >= 6 {
                push_length_ext(out, stored - 6);
            }
            out.push((field & 0xFF) as u8);
        } else {
            out.push(len_bits | 31);
            if stored >= 6 {
                push_length_ext(out, stored - 6);
            }
            let far = (field - NEAR_DISTANCE) as u16;
            out.push(255);
            out.extend_from_slice(&far.to_be_bytes());
        }
    }
}

/// Best match found at one position.
#[derive(Clone, Copy)]
struct Found {
    distance: usize,
    len: usize,
    saving: isize,
}

/// The best of the candidate `distances` back from unit `i` of `p` (0 or
/// beyond the format's reach: none), by bytes saved over literals; the
/// first wins ties, and a later one is measured only if it is longer.
fn best_match<T: Unit, F: Format>(
    p: &[T],
    i: usize,
    distances: &[usize; 4],
    fmt: &F,
) -> Option<Found> {
    let (Some(&x0), Some(&x1)) = (p.get(i), p.get(i + 1)) else {
        // A one-unit match saves nothing.
        return None;
    };
    let mut best: Option<Found> = None;
    for (k, &distance) in distances.iter().enumerate() {
        if distance == 0 || distance > i || distance > fmt.max_distance() {
            continue;
        }
        // Most candidates fail on the first two units; shorter matches
        // save nothing, so this screen drops no useful one.
        if p[i - distance] != x0 || p[i - distance + 1] != x1 || distances[..k].contains(&distance)
        {
            continue;
        }
        // Only a longer match is worth measuring.
        if let Some(b) = best {
            if p.get(i + b.len) != Some(&p[i - distance + b.len]) {
                continue;
            }
        }
        let len = common_len(&p[i - distance..], &p[i..]);
        if len < fmt.min_len() {
            continue;
        }
        let saving = (len * T::LITERAL_BYTES) as isize - fmt.cost(distance, len) as isize;
        if !matches!(best, Some(b) if b.saving >= saving) {
            best = Some(Found {
                distance,
                len,
                saving,
            });
        }
    }
    best
}

/// Codes the units `p` of one image, `width` units a row, as literal runs
/// and in-image matches coded by `fmt`. `table` is scratch for the hash
/// table (any contents).
///
/// A run (the unit before and the next three equal) is coded at once.
/// Elsewhere the candidates are the last position with the same
/// three-unit hash, the unit before, the row above and the last match's
/// distance; the one that saves most bytes wins.
pub(super) fn encode_units<T: Unit, F: Format>(
    p: &[T],
    width: usize,
    fmt: &F,
    table: &mut Vec<u64>,
    out: &mut Vec<u8>,
) {
    let n = p.len();
    table.clear();
    table.resize(1 << HASH_BITS, 0);
    let max_distance = fmt.max_distance();
    let mut lit_start = 0;
    let mut last_distance = 0;
    let mut i = 0;
    while i + 2 < n {
        let (x0, x1, x2) = (p[i], p[i + 1], p[i + 2]);
        if i > 0 && p[i - 1] == x0 && x0 == x1 && x1 == x2 {
            let len = 3 + run_len(&p[i + 3..], x0);
            push_literals(out, &p[lit_start..i]);
            fmt.push_match(out, 1, len);
            i += len;
            lit_start = i;
            continue;
        }
        let (h, check) = hash_check(x0.word(), x1.word(), x2.word(), HASH_BITS);
        let entry = table[h];
        // Positions fit in 32 bits: images hold fewer than 2^28 pixels.
        table[h] = (u64::from(check) << 32) | i as u64;
        let mut distances = [0, 1, width, last_distance];
        if (entry >> 32) as u32 == check {
            distances[0] = i.wrapping_sub(entry as u32 as usize);
        }
        // The common case on noisy content: no candidate matches two
        // units (a shorter match saves nothing), so skip the full
        // evaluation.
        let reach = i.min(max_distance);
        let hit = |d: usize| d.wrapping_sub(1) < reach && p[i - d] == x0 && p[i - d + 1] == x1;
        if !(hit(distances[0]) || hit(1) || hit(width) || hit(last_distance)) {
            // Long literal stretches (noisy content) are searched more
            // sparsely: a repeat long enough to matter is still found.
            i += 1 + ((i - lit_start) >> 6).min(2);
            continue;
        }
        match best_match(p, i, &distances, fmt) {
            Some(found) if found.saving > 1 => {
                push_literals(out, &p[lit_start..i]);
                fmt.push_match(out, found.distance, found.len);
                last_distance = found.distance;
                let end = i + found.len;
                hash_tail(table, p, i + 1, end);
                i = end;
                lit_start = i;
            }
            _ => i += 1,
        }
    }
    push_literals(out, &p[lit_start..n]);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads the body of an LZ pass the way spice-common's decoder does,
    /// checking every bound it asserts; `set` stores a literal, `copy`
    /// copies unit `from` to unit `to`.
    fn decode_pass(
        s: &[u8],
        pos: &mut usize,
        n: usize,
        bias: usize,
        literal_bytes: usize,
        mut set: impl FnMut(usize, &[u8]),
        mut copy: impl FnMut(usize, usize),
    ) -> Result<(), String> {
        let mut op = 0usize;
        let byte = |pos: &mut usize| -> Result<usize, String> {
            let b = *s.get(*pos).ok_or("stream ends early")?;
            *pos += 1;
            Ok(usize::from(b))
        };
        while op < n {
            let ctrl = byte(pos)?;
            if ctrl >= 32 {
                let mut len = (ctrl >> 5) - 1;
                let mut ofs = (ctrl & 31) << 8;
                if len == 6 {
                    loop {
                        let code = byte(pos)?;
                        len += code;
                        if code != 255 {
                            break;
                        }
                    }
                }
                let code = byte(pos)?;
                ofs += code;
                if code == 255 && ofs - code == 31 << 8 {
                    ofs = (byte(pos)? << 8) + byte(pos)? + 8191;
                }
                len += bias;
                ofs += 1;
                if op + len > n || ofs > op {
                    return Err(format!("bad match at {op}: len {len} ofs {ofs}"));
                }
                for k in 0..len {
                    copy(op + k - ofs, op + k);
                }
                op += len;
            } else {
                let count = ctrl + 1;
                if op + count > n {
                    return Err(format!("literals overrun at {op}"));
                }
                for k in 0..count {
                    let lit = s
                        .get(*pos..*pos + literal_bytes)
                        .ok_or("stream ends in literal")?;
                    set(op + k, lit);
                    *pos += literal_bytes;
                }
                op += count;
            }
        }
        Ok(())
    }

    /// Decodes an LZ_RGB stream to B,G,R,X rows (X = 0, or alpha for RGBA;
    /// B,G,R = 0 for XXXA, which carries alpha alone).
    pub fn decode(s: &[u8]) -> Result<(u32, u32, bool, Vec<u8>), String> {
        let word = |k: usize| -> Result<u32, String> {
            let b = s.get(k * 4..k * 4 + 4).ok_or("short header")?;
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        if word(0)? != MAGIC || word(1)? != VERSION {
            return Err("bad magic or version".into());
        }
        let kind = word(2)?;
        let (width, height) = (word(3)?, word(4)?);
        if word(5)? != width * 4 || word(6)? != 1 {
            return Err("bad stride or orientation".into());
        }
        let (rgb, alpha) = match kind {
            TYPE_RGB32 => (true, false),
            TYPE_RGBA => (true, true),
            TYPE_XXXA => (false, true),
            _ => return Err(format!("type {kind}")),
        };
        let n = width as usize * height as usize;
        let mut out = vec![0u8; n * 4];
        let mut pos = 28;
        {
            let cell = std::cell::RefCell::new(&mut out);
            if rgb {
                decode_pass(
                    s,
                    &mut pos,
                    n,
                    1,
                    3,
                    |k, lit| {
                        cell.borrow_mut()[k * 4..k * 4 + 4]
                            .copy_from_slice(&[lit[0], lit[1], lit[2], 0])
                    },
                    |from, to| {
                        cell.borrow_mut()
                            .copy_within(from * 4..from * 4 + 4, to * 4)
                    },
                )?;
            }
            if alpha {
                decode_pass(
                    s,
                    &mut pos,
                    n,
                    3,
                    1,
                    |k, lit| cell.borrow_mut()[k * 4 + 3] = lit[0],
                    |from, to| {
                        let mut o = cell.borrow_mut();
                        o[to * 4 + 3] = o[from * 4 + 3];
                    },
                )?;
            }
        }
        if pos != s.len() {
            return Err(format!("{} trailing bytes", s.len() - pos));
        }
        Ok((width, height, alpha, out))
    }

    /// What the decoder gives back for `data`: the pad byte cleared unless
    /// it is alpha.
    pub fn expected(data: &[u8], alpha: bool) -> Vec<u8> {
        let mut e = data.to_vec();
        if !alpha {
            for p in e.chunks_exact_mut(4) {
                p[3] = 0;
            }
        }
        e
    }

    /// Synthetic screen-like pixels: runs, repeated rows, few colours,
    /// some noise.
    pub fn screen_like(width: u32, height: u32, seed: u64, alpha: bool) -> Vec<u8> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let n = (width * height) as usize;
        let palette: Vec<[u8; 4]> = (0..6)
            .map(|_| {
                let v = next().to_le_bytes();
                [v[0], v[1], v[2], if alpha { v[3] } else { 0xFF }]
            })
            .collect();
        let mut out = Vec::with_capacity(n * 4);
        let w = width as usize;
        while out.len() < n * 4 {
            let r = next();
            let px = out.len() / 4;
            match r % 5 {
                0 if px >= w => {
                    let len = (r >> 8) as usize % (2 * w) + 1;
                    for _ in 0..len.min(n - px) {
                        let k = out.len() - w * 4;
                        let p: [u8; 4] = [out[k], out[k + 1], out[k + 2], out[k + 3]];
                        out.extend_from_slice(&p);
                    }
                }
                1 => {
                    let len = (r >> 8) as usize % 40 + 1;
                    let c = palette[(r >> 32) as usize % palette.len()];
                    for _ in 0..len.min(n - px) {
                        out.extend_from_slice(&c);
                    }
                }
                2 if px > 100 => {
                    let dist = (r >> 8) as usize % px + 1;
                    let len = (r >> 40) as usize % 300 + 1;
                    for _ in 0..len.min(n - px) {
                        let k = out.len() - dist * 4;
                        let p: [u8; 4] = [out[k], out[k + 1], out[k + 2], out[k + 3]];
                        out.extend_from_slice(&p);
                    }
                }
                _ => {
                    let v = r.to_le_bytes();
                    out.extend_from_slice(&[v[2], v[3], v[4], if alpha { v[5] } else { 0xFF }]);
                }
            }
        }
        out.truncate(n * 4);
        out
    }

    fn round_trip(width: u32, height: u32, data: &[u8], alpha: bool) {
        let img = Pixels {
            width,
            height,
            data,
            alpha,
        };
        let stream = encode(&img).expect("encode");
        let (w, h, a, out) = decode(&stream).expect("decode");
        assert_eq!((w, h, a), (width, height, alpha));
        assert!(out == expected(data, alpha), "pixels differ");
    }

    #[test]
    fn edge_sizes_round_trip() {
        for (w, h) in [
            (1, 1),
            (1, 2),
            (2, 1),
            (3, 1),
            (1, 70000),
            (40000, 3),
            (33, 33),
        ] {
            for alpha in [false, true] {
                round_trip(
                    w,
                    h,
                    &screen_like(w, h, u64::from(w * 31 + h), alpha),
                    alpha,
                );
                let flat = vec![0x42u8; (w * h * 4) as usize];
                round_trip(w, h, &flat, alpha);
            }
        }
    }

    #[test]
    fn far_and_long_matches_round_trip() {
        // Rows repeat at distances beyond the near range.
        let (w, h) = (9000u32, 24u32);
        let mut data = screen_like(w, 3, 7, false);
        while data.len() < (w * h * 4) as usize {
            let k = data.len() - (w as usize * 4 * 2) + 12;
            let row: Vec<u8> = data[k..k + w as usize * 4].to_vec();
            data.extend_from_slice(&row);
        }
        data.truncate((w * h * 4) as usize);
        round_trip(w, h, &data, false);
        let img = Pixels {
            width: w,
            height: h,
            data: &data,
            alpha: false,
        };
        assert!(encode(&img).expect("encode").len() < data.len() / 4);
    }

    /// An XXXA stream restores every alpha byte and nothing else.
    fn alpha_round_trip(width: u32, height: u32, data: &[u8]) {
        let img = Pixels {
            width,
            height,
            data,
            alpha: true,
        };
        let stream = encode_alpha(&img).expect("encode");
        assert_eq!(&stream[8..12], &TYPE_XXXA.to_be_bytes());
        let (w, h, a, out) = decode(&stream).expect("decode");
        assert_eq!((w, h, a), (width, height, true));
        let want: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(k, &b)| if k % 4 == 3 { b } else { 0 })
            .collect();
        assert!(out == want, "alpha differs");
    }

    #[test]
    fn alpha_planes_round_trip() {
        for (w, h) in [(1, 1), (3, 1), (1, 70000), (33, 33), (300, 200)] {
            alpha_round_trip(w, h, &screen_like(w, h, u64::from(w + h), true));
            alpha_round_trip(w, h, &vec![0x80u8; (w * h * 4) as usize]);
        }
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

    proptest! {
        #[test]
        fn random_images_round_trip(
            w in 1u32..80,
            h in 1u32..40,
            seed in any::<u64>(),
            alpha in any::<bool>(),
        ) {
            round_trip(w, h, &screen_like(w, h, seed, alpha), alpha);
        }

        #[test]
        fn random_alpha_planes_round_trip(
            w in 1u32..80,
            h in 1u32..40,
            seed in any::<u64>(),
        ) {
            alpha_round_trip(w, h, &screen_like(w, h, seed, true));
        }

        #[test]
        fn arbitrary_bytes_round_trip(
            data in proptest::collection::vec(0u8..4, 4..2000),
            alpha in any::<bool>(),
        ) {
            let n = data.len() / 4;
            round_trip(n as u32, 1, &data[..n * 4], alpha);
        }
    }
}
