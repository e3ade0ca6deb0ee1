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
use model::{Channel, State};

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
    // Room for 16 bits per pixel, more than photographs take, so the
    // buffer rarely grows (growing zero-fills; the first allocation comes
    // zeroed from the system and its untouched pages cost nothing).
    let mut w = BitWriter::new(img.data.len() / 8 + 16);
    w.reserve(8);
    w.put(MAGIC, 32);
    w.put(VERSION, 32);
    w.put(if img.alpha { TYPE_RGBA } else { TYPE_RGB32 }, 32);
    w.put(img.width, 32);
    w.put(img.height, 32);

    let mut rgb = Plane::<3, 2>::new(width);
    let mut rgb_state = State::new();
    let mut alpha = Plane::<1, 3>::new(if img.alpha { width } else { 0 });
    let mut alpha_state = State::new();
    // Worst case per pixel (16 bytes, 26 with alpha; generous): every
    // channel at the longest codeword plus an empty run (≤ 17 bits) and
    // one bit per pixel of run hits. In words:
    let row_bound = (width * if img.alpha { 26 } else { 16 } + 64) / 4;

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
            rgb.row(&mut w, &mut rgb_state, &[], &cur);
            if img.alpha {
                alpha.row(&mut w, &mut alpha_state, &[], &cur);
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

/// The output words and the bit position in them.
struct BitWriter {
    /// Allocated ahead of `bits.pos` by [`BitWriter::reserve`].
    out: Vec<u32>,
    bits: Bits,
}

/// Bit-packing state: codewords go MSB first into u32 words (stored
/// little-endian). Kept apart from the buffer, and copied into a local for
/// each row, so the hot loops hold it in registers.
#[derive(Clone, Copy)]
struct Bits {
    /// The latest bits written, right-aligned; older ones fall off the
    /// top.
    acc: u64,
    /// How many of the low bits of `acc` are not yet in a finished word
    /// (< 32 between writes).
    n: u32,
    /// Index of the word being filled.
    pos: usize,
}

impl BitWriter {
    fn new(words: usize) -> BitWriter {
        BitWriter {
            out: vec![0; words],
            bits: Bits {
                acc: 0,
                n: 0,
                pos: 0,
            },
        }
    }

    /// Makes room for at least `words` more output words.
    fn reserve(&mut self, words: usize) {
        let need = self.bits.pos + words + 2;
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
        self.reserve(2);
        if self.bits.n > 0 {
            self.put(0, 32 - self.bits.n);
        }
        self.put(0, 32);
        self.out[..self.bits.pos]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }
}

impl Bits {
    /// Shifts a packed codeword (`code << 8 | len`, see
    /// [`model::CODES`]) into `acc` without counting it; [`Bits::commit`]
    /// follows with the lengths' sum, at most 32.
    ///
    /// `wrapping_shl` masks the shift to its low 6 bits, which are `len`
    /// (below 64, and the code starts at bit 8), so no unpacking is needed.
    #[inline(always)]
    fn push(&mut self, packed: u32) {
        self.acc = self.acc.wrapping_shl(packed) | u64::from(packed >> 8);
    }

    /// Accounts `len` (≤ 32) bits pushed. Branch-free: the word at `pos` is
    /// always stored (when not yet full, the value is rewritten later) and
    /// `pos` advances once it is full.
    #[inline(always)]
    fn commit(&mut self, out: &mut [u32], len: u32) {
        self.n += len;
        // `reserve` keeps the buffer ahead (see the per-row bound in
        // `encode`), so this never skips.
        debug_assert!(self.pos < out.len());
        if let Some(dst) = out.get_mut(self.pos) {
            // With n in 32..64 the full word is bits n - 32.. of acc.
            *dst = (self.acc >> (self.n & 31)) as u32;
        }
        self.pos += (self.n >> 5) as usize;
        self.n &= 31;
    }

    /// Writes the low `len` (1..=32) bits of `code`, which has no higher
    /// bits set.
    #[inline(always)]
    fn put(&mut self, out: &mut [u32], code: u32, len: u32) {
        self.acc = self.acc.wrapping_shl(len) | u64::from(code);
        self.commit(out, len);
    }

    /// Writes `count` one bits.
    #[inline(always)]
    fn ones(&mut self, out: &mut [u32], count: usize) {
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
    fn run(&mut self, out: &mut [u32], st: &mut State, mut len: usize) {
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

fn no_fail(r: Result<(), Infallible>) {
    match r {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

/// `N` channels coded together; channel `c` is byte `BASE - c` of each
/// pixel word (RGB: R=2, G=1, B=0; alpha: 3).
struct Plane<const N: usize, const BASE: usize> {
    /// Folded residuals packed per pixel (in the pixel's byte positions),
    /// shifted by one: slot 0 holds the context of the row's first pixel.
    /// Pixels skipped by a run keep the previous row's values, as in the
    /// decoder.
    corr: Vec<u32>,
    /// The current row's folded residuals (this plane's bytes only), with
    /// [`Self::RUN`] set where the neighbours suggest a run; computed a
    /// block at a time ahead of the sequential pass (see
    /// [`Self::predict`]).
    res: Vec<u32>,
    /// `res` is valid for the current row's pixels `..ready` (those that
    /// are coded).
    ready: usize,
    coder: Coder<N, BASE>,
}

/// Pixels predicted at a time: enough to amortise the call, few enough
/// that little is computed for pixels a run then skips.
const PREDICT_BLOCK: usize = 64;

/// The channel models of a plane, apart from its rows of residuals so both
/// can be borrowed at once in the pixel loops.
struct Coder<const N: usize, const BASE: usize> {
    chans: [Channel; N],
}

impl<const N: usize, const BASE: usize> Coder<N, BASE> {
    /// Writes each channel of the folded residuals `vals` with the current
    /// code of its context (the same channel of `ctx`).
    #[inline(always)]
    fn put(&self, out: &mut [u32], b: &mut Bits, ctx: u32, vals: u32) {
        let mut codes = [0u32; N];
        for (c, (code, chan)) in codes.iter_mut().zip(&self.chans).enumerate() {
            let shift = 8 * (BASE - c);
            *code = chan.code((ctx >> shift) as u8, (vals >> shift) as u8);
        }
        // The low bytes hold the lengths, whose sum (at most 3 * 26) does
        // not carry into the codes.
        let total = codes.iter().fold(0u32, |sum, &c| sum.wrapping_add(c)) & 0xff;
        // Usually the pixel's codewords fit one write.
        if total <= 32 {
            for code in codes {
                b.push(code);
            }
            b.commit(out, total);
        } else {
            for code in codes {
                b.push(code);
                b.commit(out, code & 0xff);
            }
        }
    }

    /// Feeds a pixel's folded residuals `vals` to the buckets of their
    /// contexts `ctx`.
    fn update(&mut self, ctx: u32, vals: u32, trigger: u32) {
        for (c, chan) in self.chans.iter_mut().enumerate() {
            let shift = 8 * (BASE - c);
            chan.update((ctx >> shift) as u8, (vals >> shift) as u8, trigger);
        }
    }
}

impl<const N: usize, const BASE: usize> Plane<N, BASE> {
    /// The bytes of a pixel word this plane codes.
    const MASK: u32 = ((((1u64 << (8 * N)) - 1) << (8 * (BASE + 1 - N))) & 0xffff_ffff) as u32;

    fn new(width: usize) -> Self {
        Plane {
            corr: vec![0; width + 1],
            res: vec![0; width],
            ready: 0,
            coder: Coder {
                chans: std::array::from_fn(|_| Channel::new()),
            },
        }
    }

    /// A bit outside this plane's bytes, marking pixels in `res` where a
    /// run may start: left equals the pixel before it, and up-left equals
    /// up.
    const RUN: u32 = !Self::MASK & (!Self::MASK).wrapping_neg();

    #[inline(always)]
    fn same(a: u32, b: u32) -> bool {
        (a ^ b) & Self::MASK == 0
    }

    /// Fills `res[from..to]` (`from` ≥ 1): residuals from the left
    /// neighbour (first row, `prev` empty) or from the mean of left and up.
    /// None of this depends on the model, so it runs ahead of the
    /// sequential coding pass, a block at a time (see [`Self::ensure`]), in
    /// straight loops the compiler vectorises.
    fn predict(&mut self, prev: &[u32], cur: &[u32], from: usize, to: usize) {
        let to = to.min(cur.len()).min(self.res.len());
        if from == 0 || from >= to {
            return;
        }
        if prev.is_empty() {
            let (Some(res), Some(pixels)) = (self.res.get_mut(from..to), cur.get(from - 1..to))
            else {
                return;
            };
            for (r, pair) in res.iter_mut().zip(pixels.windows(2)) {
                *r = fold4(sub4(pair[1], pair[0])) & Self::MASK;
            }
            return;
        }
        let Some(prev) = prev.get(..to) else {
            return;
        };
        // The decoder only looks for runs from the fourth pixel on.
        let flagged = from.max(3).min(to);
        for j in from..flagged {
            self.res[j] = fold4(sub4(cur[j], avg4(cur[j - 1], prev[j]))) & Self::MASK;
        }
        if flagged == to {
            return;
        }
        // Pixel j from cur[j - 2..=j] and prev[j - 1..=j].
        let j = flagged;
        let rows = cur[j..to]
            .iter()
            .zip(&cur[j - 1..to])
            .zip(&cur[j - 2..to])
            .zip(&prev[j..to])
            .zip(&prev[j - 1..to]);
        for (r, ((((&x, &left), &left2), &up), &up_left)) in self.res[j..to].iter_mut().zip(rows) {
            let run = ((left ^ left2) | (up ^ up_left)) & Self::MASK == 0;
            let flag = if run { Self::RUN } else { 0 };
            *r = (fold4(sub4(x, avg4(left, up))) & Self::MASK) | flag;
        }
    }

    /// Makes `res` valid up to `limit`, predicting from `from` on (pixels
    /// before it and past `self.ready` were skipped by a run and are never
    /// coded, so they are not computed).
    #[inline(always)]
    fn ensure(&mut self, prev: &[u32], cur: &[u32], from: usize, limit: usize) {
        if limit > self.ready {
            let start = from.max(self.ready);
            let to = limit.max(start + PREDICT_BLOCK);
            self.predict(prev, cur, start, to);
            self.ready = to;
        }
    }

    /// Feeds pixel `i`'s residuals (slot `i + 1`, in the context of slot
    /// `i`) to the model.
    fn update(&mut self, i: usize, trigger: u32) {
        if let Some(&[ctx, vals]) = self.corr.get(i..i + 2) {
            self.coder.update(ctx, vals, trigger);
        }
    }

    /// Codes the row's first pixel, predicted from `pred`, then takes the
    /// schedule step that follows it.
    #[inline(always)]
    fn first(
        &mut self,
        out: &mut [u32],
        b: &mut Bits,
        st: &mut State,
        x: u32,
        pred: u32,
        mask: usize,
    ) {
        let vals = fold4(sub4(x, pred));
        self.coder.put(out, b, self.corr[0], vals);
        self.corr[1] = vals;
        if st.waitcnt > 0 {
            st.waitcnt -= 1;
        } else {
            st.waitcnt = st.tabrand() & mask;
            self.update(0, st.wm_trigger);
        }
    }

    /// How many pixels at the start of `pixels` equal `value`. Runs are
    /// often long, so whole blocks are compared at once (the compiler
    /// vectorises the fold).
    fn run_length(pixels: &[u32], value: u32) -> usize {
        const BLOCK: usize = 8;
        let mut n = 0;
        for block in pixels.chunks_exact(BLOCK) {
            let diff = block.iter().fold(0, |acc, &p| acc | (p ^ value));
            if diff & Self::MASK != 0 {
                break;
            }
            n += BLOCK;
        }
        let rest = &pixels[n..];
        n + rest
            .iter()
            .position(|&p| !Self::same(p, value))
            .unwrap_or(rest.len())
    }

    /// Codes one row. The first row (`prev` empty) is predicted from the
    /// left only and has no runs; later rows predict from the mean of left
    /// and up.
    fn row(&mut self, w: &mut BitWriter, st: &mut State, prev: &[u32], cur: &[u32]) {
        self.corr[0] = if prev.is_empty() { 0 } else { self.corr[1] };
        self.ready = 1;
        let mut b = w.bits;
        no_fail(st.split_row(cur.len(), |st, start, end, mask| {
            self.row_seg(&mut w.out, &mut b, st, prev, cur, start, end, mask);
            Ok(())
        }));
        w.bits = b;
    }

    /// Codes pixels `i..end` of a row, where the wait mask is `mask`,
    /// switching to run mode where [`Self::predict`] flagged a possible
    /// run.
    #[allow(clippy::too_many_arguments)]
    fn row_seg(
        &mut self,
        out: &mut [u32],
        bits: &mut Bits,
        st: &mut State,
        prev: &[u32],
        cur: &[u32],
        mut i: usize,
        end: usize,
        mask: usize,
    ) {
        let mut b = *bits;
        let end = end.min(cur.len());
        if i == 0 {
            let pred = prev.first().copied().unwrap_or(0);
            self.first(out, &mut b, st, cur[0], pred, mask);
            i = 1;
        }
        let mut stop = i + st.waitcnt;
        loop {
            let limit = end.min(stop + 1);
            self.ensure(prev, cur, i, limit);
            match self.span(out, &mut b, i, limit) {
                Some(run) => {
                    i = run;
                    st.waitcnt = stop - i;
                    let len = Self::run_length(&cur[i..end], cur[i - 1]);
                    b.run(out, st, len);
                    if len == 0 {
                        // No run again here: code the pixel.
                        self.res[i] &= !Self::RUN;
                    }
                    i += len;
                    if i == end {
                        break;
                    }
                    stop = i + st.waitcnt;
                }
                None => {
                    i = limit;
                    if stop >= end {
                        st.waitcnt = stop - end;
                        break;
                    }
                    self.update(stop, st.wm_trigger);
                    stop = i + (st.tabrand() & mask);
                }
            }
        }
        *bits = b;
    }

    /// Codes pixels `start..limit` (`start` ≥ 1) of a row, stopping early
    /// at the first pixel where a run starts (returned), then records the
    /// coded residuals in `corr`.
    ///
    /// Only the residuals, the context (the previous residual, carried)
    /// and the bit writer's state are live in the loop, so all of it stays
    /// in registers; `corr` is filled afterwards in one copy.
    #[inline(always)]
    fn span(&mut self, out: &mut [u32], b: &mut Bits, start: usize, limit: usize) -> Option<usize> {
        let res = self.res.get(start..limit).unwrap_or_default();
        let mut ctx = self.corr.get(start).copied().unwrap_or(0);
        let mut coded = res.len();
        for (k, &vals) in res.iter().enumerate() {
            if vals & Self::RUN != 0 {
                coded = k;
                break;
            }
            self.coder.put(out, b, ctx, vals);
            ctx = vals;
        }
        if let Some(slots) = self.corr.get_mut(start + 1..start + 1 + coded) {
            slots.copy_from_slice(&res[..coded]);
        }
        (coded < res.len()).then_some(start + coded)
    }
}
