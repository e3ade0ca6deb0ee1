//! QUIC (SFALIC-style) lossless encoder, producing the stream spice-common's
//! `quic_decode` (spice-gtk) reads.
//!
//! Each channel is predicted from its left and upper neighbours, the
//! residual is folded to an unsigned value and written with an adaptive
//! Golomb-Rice code chosen per context bucket (the previous residual of the
//! same channel). Runs of equal pixels are written with MELCODE. The model
//! (see [`model`]) evolves exactly as the decoder's does.
//!
//! Stream: little-endian u32 words, bits packed MSB first; a five-word
//! header (magic, version, type, width, height), rows top to bottom, and
//! for RGBA each RGB row is followed by the same row's alpha.

use std::convert::Infallible;

use super::{CodecError, Pixels};
use model::{Bucket, State, BUCKET_OF, CODES, NBUCKETS};

mod model;

#[cfg(test)]
mod decode;
#[cfg(test)]
mod tests;

/// "QUIC" read as a little-endian u32.
const MAGIC: u32 = 0x4349_5551;
const VERSION: u32 = 0;
const TYPE_RGB32: u32 = 4;
const TYPE_RGBA: u32 = 5;
/// The decoder refuses images with more pixels than this.
const MAX_PIXELS: u64 = 512 * 1024 * 1024 - 1;

/// Encodes `img` as a QUIC stream (RGB32, or RGBA when `img.alpha`).
pub fn encode(img: &Pixels) -> Result<Vec<u8>, CodecError> {
    img.check()?;
    if img.width > i32::MAX as u32
        || img.height > i32::MAX as u32
        || u64::from(img.width) * u64::from(img.height) > MAX_PIXELS
    {
        return Err(CodecError::Unsupported {
            codec: "quic",
            width: img.width,
            height: img.height,
        });
    }
    let width = img.width as usize;
    let stride = width * 4;
    let mut w = BitWriter::new(img.data.len() / 4 + 64);
    w.reserve(32);
    w.put(MAGIC, 32);
    w.put(VERSION, 32);
    w.put(if img.alpha { TYPE_RGBA } else { TYPE_RGB32 }, 32);
    w.put(img.width, 32);
    w.put(img.height, 32);

    let mut rgb = Plane::<3, 2>::new(width);
    let mut rgb_state = State::new();
    let mut alpha = Plane::<1, 3>::new(if img.alpha { width } else { 0 });
    let mut alpha_state = State::new();
    // Worst case per pixel: every channel at the longest codeword plus an
    // empty run (≤ 17 bits) and one bit per pixel of run hits.
    let row_bound = width * if img.alpha { 26 } else { 16 } + 64;

    let mut prev: Vec<u32> = Vec::with_capacity(width);
    let mut cur: Vec<u32> = Vec::with_capacity(width);
    for (y, bytes) in img.data.chunks_exact(stride).enumerate() {
        cur.clear();
        cur.extend(
            bytes
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        w.reserve(row_bound);
        if y == 0 {
            rgb.row0(&mut w, &mut rgb_state, &cur);
            if img.alpha {
                alpha.row0(&mut w, &mut alpha_state, &cur);
            }
        } else {
            rgb.row(&mut w, &mut rgb_state, &prev, &cur);
            if img.alpha {
                alpha.row(&mut w, &mut alpha_state, &prev, &cur);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Ok(w.finish())
}

/// The output buffer and the bit position in it.
struct BitWriter {
    /// Zero-filled ahead of `bits.pos` by [`BitWriter::reserve`].
    out: Vec<u8>,
    bits: Bits,
}

/// Bit-packing state: codewords go MSB first into little-endian u32 words.
/// Kept apart from the buffer so the hot loops hold it in registers.
#[derive(Clone, Copy)]
struct Bits {
    /// Pending bits, left-aligned.
    acc: u64,
    /// Number of pending bits (< 32 between writes).
    n: u32,
    /// Bytes of finished words.
    pos: usize,
}

impl BitWriter {
    fn new(bytes: usize) -> BitWriter {
        BitWriter {
            out: vec![0; bytes],
            bits: Bits {
                acc: 0,
                n: 0,
                pos: 0,
            },
        }
    }

    /// Makes room for at least `bytes` more output.
    fn reserve(&mut self, bytes: usize) {
        let need = self.bits.pos + bytes + 8;
        if self.out.len() < need {
            let grown = need.max(self.out.len() * 2);
            self.out.resize(grown, 0);
        }
    }

    fn put(&mut self, code: u32, len: u32) {
        self.bits.put(&mut self.out, code, len);
    }

    /// Pads the last word with zeros and appends one zero word, which the
    /// decoder's one-word look-ahead reads.
    fn finish(mut self) -> Vec<u8> {
        self.reserve(8);
        if self.bits.n > 0 {
            self.put(0, 32 - self.bits.n);
        }
        self.put(0, 32);
        self.out.truncate(self.bits.pos);
        self.out
    }
}

impl Bits {
    /// Writes the low `len` (1..=32) bits of `code`, which has no higher
    /// bits set. Branch-free: the current word is always stored, and the
    /// position only advances once it is full.
    #[inline(always)]
    fn put(&mut self, out: &mut [u8], code: u32, len: u32) {
        self.acc |= u64::from(code) << (64 - self.n - len);
        self.n += len;
        let word = (self.acc >> 32) as u32;
        // `reserve` keeps the buffer ahead (see the per-row bound in
        // `encode`), so this never skips.
        debug_assert!(self.pos + 4 <= out.len());
        if let Some(dst) = out.get_mut(self.pos..self.pos + 4) {
            dst.copy_from_slice(&word.to_le_bytes());
        }
        let full = u32::from(self.n >= 32);
        self.pos += 4 * full as usize;
        self.acc <<= 32 * full;
        self.n -= 32 * full;
    }

    /// Writes `count` one bits.
    #[inline(always)]
    fn ones(&mut self, out: &mut [u8], count: usize) {
        for _ in 0..count / 32 {
            self.put(out, u32::MAX, 32);
        }
        let rest = (count % 32) as u32;
        if rest > 0 {
            self.put(out, (1 << rest) - 1, rest);
        }
    }

    /// MELCODE: one `1` per full expected run, then a `0` and the
    /// remainder.
    #[inline(always)]
    fn run(&mut self, out: &mut [u8], st: &mut State, mut len: usize) {
        let mut hits = 0;
        while len >= st.melcorder {
            hits += 1;
            len -= st.melcorder;
            st.melc_up();
        }
        self.ones(out, hits);
        self.put(out, len as u32, st.melclen + 1);
        st.melc_down();
    }
}

const LOW7: u32 = 0x7f7f_7f7f;
const HIGH: u32 = 0x8080_8080;

/// Per byte: `floor((a + b) / 2)`.
#[inline(always)]
fn avg4(a: u32, b: u32) -> u32 {
    (a & b) + ((a ^ b) >> 1 & LOW7)
}

/// Per byte: `x - y` modulo 256.
#[inline(always)]
fn sub4(x: u32, y: u32) -> u32 {
    ((x | HIGH) - (y & !HIGH)) ^ ((x ^ !y) & HIGH)
}

/// Per byte: folds a residual taken as signed (0, -1, 1, -2, ... →
/// 0, 1, 2, 3, ...), as spice-common's `xlatU2L` table does.
#[inline(always)]
fn fold4(r: u32) -> u32 {
    let negative = (r >> 7 & 0x0101_0101) * 0xff;
    ((r << 1) & 0xfefe_fefe) ^ negative
}

/// `N` channels coded together; channel `c` is byte `BASE - c` of each
/// pixel word (RGB: R=2, G=1, B=0; alpha: 3).
struct Plane<const N: usize, const BASE: usize> {
    /// Folded residuals packed per pixel (in the pixel's byte positions),
    /// shifted by one: slot 0 holds the context of the row's first pixel.
    /// Pixels skipped by a run keep the previous row's values, as in the
    /// decoder.
    corr: Vec<u32>,
    models: [[Bucket; NBUCKETS]; N],
}

fn no_fail(r: Result<(), Infallible>) {
    match r {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

impl<const N: usize, const BASE: usize> Plane<N, BASE> {
    /// The bytes of a pixel word this plane codes.
    const MASK: u32 = ((((1u64 << (8 * N)) - 1) << (8 * (BASE + 1 - N))) & 0xffff_ffff) as u32;

    fn new(width: usize) -> Self {
        Plane {
            corr: vec![0; width + 1],
            models: [[Bucket::INIT; NBUCKETS]; N],
        }
    }

    /// Folds pixel `i`'s per-byte residuals `res`, records them and writes
    /// each with the current code of its context (`ctx`, the folded
    /// residuals of slot `i`). Returns the folded residuals, pixel `i + 1`'s
    /// context.
    #[inline(always)]
    fn put(&mut self, out: &mut [u8], b: &mut Bits, i: usize, ctx: u32, res: u32) -> u32 {
        let vals = fold4(res);
        let mut codes = [0u32; N];
        for (c, code) in codes.iter_mut().enumerate() {
            let shift = 8 * (BASE - c);
            let bucket = usize::from(BUCKET_OF[usize::from((ctx >> shift) as u8)]);
            let l = self.models[c][bucket % NBUCKETS].best as usize;
            *code = CODES[l % CODES.len()][usize::from((vals >> shift) as u8)];
        }
        // Usually the pixel's codewords fit one write.
        let total: u32 = codes.iter().map(|c| c & 0xff).sum();
        if total <= 32 {
            let joined = codes
                .iter()
                .fold(0u64, |acc, c| acc << (c & 0xff) | u64::from(c >> 8));
            b.put(out, joined as u32, total);
        } else {
            for code in codes {
                b.put(out, code >> 8, code & 0xff);
            }
        }
        if let Some(slot) = self.corr.get_mut(i + 1) {
            *slot = vals;
        }
        vals
    }

    /// Feeds pixel `i`'s residuals to the buckets of their contexts.
    #[inline(always)]
    fn update(&mut self, i: usize, trigger: u32) {
        let Some(&[ctx, vals]) = self.corr.get(i..i + 2) else {
            return;
        };
        for c in 0..N {
            let shift = 8 * (BASE - c);
            let bucket = usize::from(BUCKET_OF[usize::from((ctx >> shift) as u8)]);
            self.models[c][bucket % NBUCKETS].update((vals >> shift) as u8, trigger);
        }
    }

    #[inline(always)]
    fn same(a: u32, b: u32) -> bool {
        (a ^ b) & Self::MASK == 0
    }

    fn row0(&mut self, w: &mut BitWriter, st: &mut State, cur: &[u32]) {
        self.corr[0] = 0;
        let mut b = w.bits;
        no_fail(st.split_row(cur.len(), |st, start, end, mask| {
            self.row0_seg(&mut w.out, &mut b, st, cur, start, end, mask);
            Ok(())
        }));
        w.bits = b;
    }

    fn row(&mut self, w: &mut BitWriter, st: &mut State, prev: &[u32], cur: &[u32]) {
        self.corr[0] = self.corr[1];
        let mut b = w.bits;
        no_fail(st.split_row(cur.len(), |st, start, end, mask| {
            self.row_seg(&mut w.out, &mut b, st, prev, cur, start, end, mask);
            Ok(())
        }));
        w.bits = b;
    }

    /// First row: left prediction only, no runs.
    #[allow(clippy::too_many_arguments)]
    fn row0_seg(
        &mut self,
        out: &mut [u8],
        b: &mut Bits,
        st: &mut State,
        cur: &[u32],
        mut i: usize,
        end: usize,
        mask: usize,
    ) {
        let end = end.min(cur.len());
        let mut ctx = self.corr.get(i).copied().unwrap_or(0);
        if i == 0 {
            ctx = self.put(out, b, 0, ctx, cur[0]);
            self.first_update(st, mask);
            i = 1;
        }
        let mut stop = i + st.waitcnt;
        while stop < end {
            while i <= stop {
                ctx = self.put(out, b, i, ctx, sub4(cur[i], cur[i - 1]));
                i += 1;
            }
            self.update(stop, st.wm_trigger);
            stop = i + (st.tabrand() & mask);
        }
        while i < end {
            ctx = self.put(out, b, i, ctx, sub4(cur[i], cur[i - 1]));
            i += 1;
        }
        st.waitcnt = stop - end;
    }

    /// The schedule step after a row's first pixel.
    #[inline(always)]
    fn first_update(&mut self, st: &mut State, mask: usize) {
        if st.waitcnt > 0 {
            st.waitcnt -= 1;
        } else {
            st.waitcnt = st.tabrand() & mask;
            self.update(0, st.wm_trigger);
        }
    }

    /// Later rows: predict from the mean of left and up; switch to run
    /// mode where the row above and the last two pixels suggest a run.
    #[allow(clippy::too_many_arguments)]
    fn row_seg(
        &mut self,
        out: &mut [u8],
        b: &mut Bits,
        st: &mut State,
        prev: &[u32],
        cur: &[u32],
        mut i: usize,
        end: usize,
        mask: usize,
    ) {
        let end = end.min(cur.len()).min(prev.len());
        let mut ctx = self.corr.get(i).copied().unwrap_or(0);
        if i == 0 {
            ctx = self.put(out, b, 0, ctx, sub4(cur[0], prev[0]));
            self.first_update(st, mask);
            i = 1;
        }
        let mut stop = i + st.waitcnt;
        let mut run_index = 0;
        loop {
            let mut run = false;
            'coded: {
                while stop < end {
                    while i <= stop {
                        let (left, up, x) = (cur[i - 1], prev[i], cur[i]);
                        if Self::same(prev[i - 1], up)
                            && run_index != i
                            && i > 2
                            && Self::same(left, cur[i - 2])
                        {
                            run = true;
                            break 'coded;
                        }
                        ctx = self.put(out, b, i, ctx, sub4(x, avg4(left, up)));
                        i += 1;
                    }
                    self.update(stop, st.wm_trigger);
                    stop = i + (st.tabrand() & mask);
                }
                while i < end {
                    let (left, up, x) = (cur[i - 1], prev[i], cur[i]);
                    if Self::same(prev[i - 1], up)
                        && run_index != i
                        && i > 2
                        && Self::same(left, cur[i - 2])
                    {
                        run = true;
                        break 'coded;
                    }
                    ctx = self.put(out, b, i, ctx, sub4(x, avg4(left, up)));
                    i += 1;
                }
            }
            if !run {
                st.waitcnt = stop - end;
                return;
            }
            run_index = i;
            st.waitcnt = stop - i;
            let start = i;
            let value = cur[i - 1];
            while Self::same(cur[i], value) {
                i += 1;
                if i == end {
                    b.run(out, st, i - start);
                    return;
                }
            }
            b.run(out, st, i - start);
            // Pixels in the run left their slots alone.
            ctx = self.corr.get(i).copied().unwrap_or(0);
            stop = i + st.waitcnt;
        }
    }
}
