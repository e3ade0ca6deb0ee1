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
    WORDS.with(|words| {
        let mut words = words.borrow_mut();
        let mut w = BitWriter::new(std::mem::take(&mut *words), img.data.len() / 8 + 16);
        encode_into(img, &mut w);
        let (stream, buffer) = w.finish();
        *words = buffer;
        Ok(stream)
    })
}

thread_local! {
    /// One thread's output words, reused: a fresh buffer for a 1080p frame
    /// is megabytes the allocator zero-fills each time (freed large
    /// blocks raise glibc's mmap threshold, so they come from the heap).
    static WORDS: std::cell::RefCell<Vec<u32>> = std::cell::RefCell::default();
}

/// Codes the checked `img` into `w`.
fn encode_into(img: &Pixels, w: &mut BitWriter) {
    let width = img.width as usize;
    let stride = width * 4;
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

    // Rows are read in place: only the pixels that are predicted become
    // words (see `predict_block`); converting whole rows, runs included,
    // cost a tenth of the time on text.
    let mut prev: &[u8] = &[];
    for cur in img.data.chunks_exact(stride) {
        w.reserve(row_bound);
        rgb.row(w, &mut rgb_state, prev, cur);
        if img.alpha {
            alpha.row(w, &mut alpha_state, prev, cur);
        }
        prev = cur;
    }
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
    /// A writer into `buffer` (any contents: every word is written before
    /// it is read), with room for at least `words`.
    fn new(mut buffer: Vec<u32>, words: usize) -> BitWriter {
        if buffer.len() < words {
            buffer.resize(words, 0);
        }
        BitWriter {
            out: buffer,
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
    /// decoder's one-word look-ahead reads. Returns the stream and the
    /// buffer, for reuse.
    fn finish(mut self) -> (Vec<u8>, Vec<u32>) {
        self.reserve(2);
        if self.bits.n > 0 {
            self.put(0, 32 - self.bits.n);
        }
        self.put(0, 32);
        let words = &self.out[..self.bits.pos];
        let mut stream = vec![0; 4 * words.len()];
        for (dst, word) in stream.chunks_exact_mut(4).zip(words) {
            dst.copy_from_slice(&word.to_le_bytes());
        }
        (stream, self.out)
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

/// Pixel word `j` of a packed row.
#[inline(always)]
fn word(row: &[u8], j: usize) -> u32 {
    let b = &row[4 * j..4 * j + 4];
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
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
    /// Words of the pixels `predict_block` reads, kept here so they are
    /// not zeroed for every block.
    left: [u32; PREDICT_BLOCK + 2],
    up: [u32; PREDICT_BLOCK + 1],
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
            left: [0; PREDICT_BLOCK + 2],
            up: [0; PREDICT_BLOCK + 1],
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
    fn predict(&mut self, prev: &[u8], cur: &[u8], from: usize, to: usize) {
        let to = to.min(cur.len() / 4).min(self.res.len());
        if from == 0 || (!prev.is_empty() && prev.len() < 4 * to) {
            return;
        }
        let mut j = from;
        while j < to {
            let n = (to - j).min(PREDICT_BLOCK);
            self.predict_block(prev, cur, j, n);
            j += n;
        }
    }

    /// `predict` for `n` (≤ `PREDICT_BLOCK`) pixels from `from` (≥ 1),
    /// which the caller checked the rows hold. Only these pixels and their
    /// neighbours become words, in arrays the compiler vectorises over: a
    /// run's pixels are never converted.
    #[inline(always)]
    fn predict_block(&mut self, prev: &[u8], cur: &[u8], from: usize, n: usize) {
        // Pixel from + k is left[k + 2]; left[0] is pixel from - 2 (stale
        // when from is 1: only a run flag reads it, and that is cleared).
        let (left, up) = (&mut self.left, &mut self.up);
        let lo = from.saturating_sub(2);
        let skip = lo + 2 - from;
        for (w, b) in left[skip..n + 2]
            .iter_mut()
            .zip(cur[4 * lo..4 * (from + n)].chunks_exact(4))
        {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let res = &mut self.res[from..from + n];
        if prev.is_empty() {
            for (k, r) in res.iter_mut().enumerate() {
                *r = fold4(sub4(left[k + 2], left[k + 1])) & Self::MASK;
            }
            return;
        }
        // Pixel from + k is up[k + 1].
        for (w, b) in up[..n + 1]
            .iter_mut()
            .zip(prev[4 * (from - 1)..4 * (from + n)].chunks_exact(4))
        {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        for (k, r) in res.iter_mut().enumerate() {
            let (x, l, l2) = (left[k + 2], left[k + 1], left[k]);
            let (u, ul) = (up[k + 1], up[k]);
            let run = ((l ^ l2) | (u ^ ul)) & Self::MASK == 0;
            let flag = if run { Self::RUN } else { 0 };
            *r = (fold4(sub4(x, avg4(l, u))) & Self::MASK) | flag;
        }
        // The decoder only looks for runs from the fourth pixel on.
        for r in res.iter_mut().take(3usize.saturating_sub(from)) {
            *r &= !Self::RUN;
        }
    }

    /// Makes `res` valid up to `limit`, predicting from `from` on (pixels
    /// before it and past `self.ready` were skipped by a run and are never
    /// coded, so they are not computed).
    #[inline(always)]
    fn ensure(&mut self, prev: &[u8], cur: &[u8], from: usize, limit: usize) {
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

    /// How many pixels at the start of `bytes` (packed pixel words) equal
    /// `value` in this plane's bytes. Runs are often long, so whole blocks
    /// are compared at once, two pixels a word, and the end is found from
    /// the words of the block that differs rather than pixel by pixel.
    fn run_length(bytes: &[u8], value: u32) -> usize {
        let mask2 = u64::from(Self::MASK) | u64::from(Self::MASK) << 32;
        let value2 = u64::from(value) | u64::from(value) << 32;
        let diff = |b: &[u8]| {
            (u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) ^ value2) & mask2
        };
        // Pixels before the first that differs, given the differences of
        // consecutive pixel pairs, one of which is not zero.
        let first = |d: &[u64]| {
            let k = d.iter().position(|&x| x != 0).unwrap_or(d.len());
            let lower = d.get(k).is_some_and(|&x| x as u32 == 0);
            2 * k + usize::from(lower)
        };
        let mut n = 0;
        let mut blocks = bytes.chunks_exact(32);
        for block in &mut blocks {
            let d = [
                diff(&block[..8]),
                diff(&block[8..16]),
                diff(&block[16..24]),
                diff(&block[24..]),
            ];
            if d[0] | d[1] | d[2] | d[3] != 0 {
                return n + first(&d);
            }
            n += 8;
        }
        let rest = blocks.remainder();
        let mut pairs = rest.chunks_exact(8);
        for pair in &mut pairs {
            let d = diff(pair);
            if d != 0 {
                return n + first(&[d]);
            }
            n += 2;
        }
        let last = pairs.remainder();
        if last.len() == 4
            && Self::same(
                u32::from_le_bytes([last[0], last[1], last[2], last[3]]),
                value,
            )
        {
            n += 1;
        }
        n
    }

    /// Codes one row. The first row (`prev` empty) is predicted from the
    /// left only and has no runs; later rows predict from the mean of left
    /// and up.
    fn row(&mut self, w: &mut BitWriter, st: &mut State, prev: &[u8], cur: &[u8]) {
        self.corr[0] = if prev.is_empty() { 0 } else { self.corr[1] };
        self.ready = 1;
        let mut b = w.bits;
        no_fail(st.split_row(cur.len() / 4, |st, start, end, mask| {
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
        prev: &[u8],
        cur: &[u8],
        mut i: usize,
        end: usize,
        mask: usize,
    ) {
        let mut b = *bits;
        let end = end.min(cur.len() / 4);
        if i == 0 {
            let pred = if prev.is_empty() { 0 } else { word(prev, 0) };
            self.first(out, &mut b, st, word(cur, 0), pred, mask);
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
                    let len = Self::run_length(&cur[4 * i..4 * end], word(cur, i - 1));
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
    /// at the first pixel where a run starts (returned), and records the
    /// coded residuals in `corr`.
    ///
    /// Spans are mostly a few pixels long, so `corr` is written as the
    /// loop goes rather than copied after it (a call to `memcpy` for a few
    /// words costs more than the stores).
    #[inline(always)]
    fn span(&mut self, out: &mut [u32], b: &mut Bits, start: usize, limit: usize) -> Option<usize> {
        let res = self.res.get(start..limit).unwrap_or_default();
        let coder = &self.coder;
        let slots = self.corr.get_mut(start..).unwrap_or_default();
        let mut ctx = slots.first().copied().unwrap_or(0);
        let mut coded = res.len();
        for (k, (&vals, slot)) in res.iter().zip(slots.iter_mut().skip(1)).enumerate() {
            if vals & Self::RUN != 0 {
                coded = k;
                break;
            }
            coder.put(out, b, ctx, vals);
            *slot = vals;
            ctx = vals;
        }
        (coded < res.len()).then_some(start + coded)
    }
}
