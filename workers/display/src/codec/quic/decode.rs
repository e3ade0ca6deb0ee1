//! Test-only QUIC decoder, modelled on how spice-common reads the stream
//! (including its one-word look-ahead), used to round-trip the encoder.

use super::model::{Bucket, State, BUCKET_OF, FAMILY, NBUCKETS};
use super::{MAGIC, TYPE_RGB32, TYPE_RGBA, VERSION};

/// A decoded image: packed B,G,R,A rows (A = 0 for RGB32, like spice-common).
#[derive(Debug)]
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
    pub data: Vec<u8>,
}

struct BitReader<'a> {
    data: &'a [u8],
    /// Bits consumed so far.
    pos: usize,
}

impl BitReader<'_> {
    fn word(&self, k: usize) -> u32 {
        self.data
            .get(k * 4..k * 4 + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The next 32 bits, MSB first.
    fn peek(&self) -> u32 {
        let k = self.pos / 32;
        let s = (self.pos % 32) as u32;
        let hi = u64::from(self.word(k)) << 32 | u64::from(self.word(k + 1));
        (hi << s >> 32) as u32
    }

    /// Consumes `n` bits; fails where spice-common would need a word past
    /// the end of the data for its look-ahead window.
    fn eat(&mut self, n: u32) -> Result<(), String> {
        self.pos += n as usize;
        if self.pos + 32 > self.data.len() / 4 * 32 {
            return Err(format!("read past end at bit {}", self.pos));
        }
        Ok(())
    }

    fn read32(&mut self) -> Result<u32, String> {
        let v = self.peek();
        self.eat(16)?;
        self.eat(16)?;
        Ok(v)
    }

    /// Decodes one residual under code `l`.
    fn golomb(&mut self, l: u32) -> Result<u8, String> {
        let l = l as usize;
        let bits = self.peek();
        let prefix_mask = (1u32 << (32 - FAMILY.alt_prefix[l])) - 1;
        let (v, len) = if bits > prefix_mask {
            let zeros = bits.leading_zeros();
            let len = zeros + 1 + l as u32;
            let low = (bits >> (32 - len)) & ((1u32 << l) - 1);
            ((zeros << l) | low, len)
        } else {
            let len = FAMILY.alt_len[l];
            let suffix = (bits >> (32 - len)) & ((1u32 << FAMILY.alt_suffix[l]) - 1);
            (FAMILY.n_gr[l] + suffix, len)
        };
        self.eat(len)?;
        u8::try_from(v).map_err(|_| format!("residual {v} out of range"))
    }

    fn bit(&mut self) -> Result<bool, String> {
        let b = self.peek() >> 31 == 1;
        self.eat(1)?;
        Ok(b)
    }

    fn run(&mut self, st: &mut State) -> Result<usize, String> {
        let mut len = 0;
        while self.bit()? {
            len += st.melcorder;
            st.melc_up();
        }
        if st.melclen > 0 {
            len += (self.peek() >> (32 - st.melclen)) as usize;
            self.eat(st.melclen)?;
        }
        st.melc_down();
        Ok(len)
    }
}

/// Undoes [`super::model::U2L`].
fn unfold(v: u8) -> u8 {
    if v & 1 == 1 {
        255 - (v >> 1)
    } else {
        v >> 1
    }
}

struct Plane<const N: usize, const BASE: usize> {
    corr: Vec<u8>,
    models: [[Bucket; NBUCKETS]; N],
}

impl<const N: usize, const BASE: usize> Plane<N, BASE> {
    fn new(width: usize) -> Self {
        Plane {
            corr: vec![0; (width + 1) * N],
            models: [[Bucket::INIT; NBUCKETS]; N],
        }
    }

    /// Decodes pixel `i` of `cur`; `pred(cur, offset)` gives the prediction
    /// from already decoded bytes.
    fn get(
        &mut self,
        r: &mut BitReader,
        cur: &mut [u8],
        i: usize,
        pred: impl Fn(&[u8], usize) -> u8,
    ) -> Result<(), String> {
        for c in 0..N {
            let ctx = self.corr[i * N + c];
            let l = self.models[c][BUCKET_OF[ctx as usize] as usize].best;
            let v = r.golomb(l)?;
            self.corr[(i + 1) * N + c] = v;
            let o = i * 4 + BASE - c;
            cur[o] = unfold(v).wrapping_add(pred(cur, BASE - c));
        }
        Ok(())
    }

    fn update(&mut self, i: usize, trigger: u32) {
        for c in 0..N {
            let ctx = self.corr[i * N + c];
            let v = self.corr[(i + 1) * N + c];
            self.models[c][BUCKET_OF[ctx as usize] as usize].update(v, trigger);
        }
    }

    fn same(row: &[u8], a: usize, b: usize) -> bool {
        (0..N).all(|c| row[a * 4 + BASE - c] == row[b * 4 + BASE - c])
    }

    /// The schedule step after a row's first pixel; returns the first
    /// update point.
    fn after_first(&mut self, st: &mut State, mask: usize) -> usize {
        if st.waitcnt > 0 {
            st.waitcnt -= 1;
        } else {
            st.waitcnt = st.tabrand() & mask;
            self.update(0, st.wm_trigger);
        }
        1 + st.waitcnt
    }

    fn row(
        &mut self,
        r: &mut BitReader,
        st: &mut State,
        prev: Option<&[u8]>,
        cur: &mut [u8],
    ) -> Result<(), String> {
        let width = cur.len() / 4;
        if prev.is_some() {
            self.corr.copy_within(N..2 * N, 0);
        } else {
            self.corr[..N].fill(0);
        }
        st.split_row(width, |st, start, end, mask| match prev {
            None => self.seg0(r, st, cur, start, end, mask),
            Some(p) => self.seg(r, st, p, cur, start, end, mask),
        })
    }

    fn seg0(
        &mut self,
        r: &mut BitReader,
        st: &mut State,
        cur: &mut [u8],
        mut i: usize,
        end: usize,
        mask: usize,
    ) -> Result<(), String> {
        let mut stop = if i == 0 {
            self.get(r, cur, 0, |_, _| 0)?;
            i = 1;
            self.after_first(st, mask)
        } else {
            i + st.waitcnt
        };
        loop {
            while i < end && i <= stop {
                self.get(r, cur, i, |cur, o| cur[i * 4 - 4 + o])?;
                i += 1;
            }
            if stop >= end {
                st.waitcnt = stop - end;
                return Ok(());
            }
            self.update(stop, st.wm_trigger);
            stop = i + (st.tabrand() & mask);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seg(
        &mut self,
        r: &mut BitReader,
        st: &mut State,
        prev: &[u8],
        cur: &mut [u8],
        mut i: usize,
        end: usize,
        mask: usize,
    ) -> Result<(), String> {
        let mut stop = if i == 0 {
            self.get(r, cur, 0, |_, o| prev[o])?;
            i = 1;
            self.after_first(st, mask)
        } else {
            i + st.waitcnt
        };
        let mut run_index = 0;
        loop {
            // Code pixels up to the next update point or the end.
            while i < end && i <= stop {
                if run_index != i
                    && i > 2
                    && Self::same(prev, i - 1, i)
                    && Self::same(cur, i - 1, i - 2)
                {
                    break;
                }
                self.get(r, cur, i, |cur, o| {
                    ((u16::from(cur[i * 4 - 4 + o]) + u16::from(prev[i * 4 + o])) >> 1) as u8
                })?;
                i += 1;
            }
            let in_run = i < end
                && i <= stop
                && run_index != i
                && i > 2
                && Self::same(prev, i - 1, i)
                && Self::same(cur, i - 1, i - 2);
            if in_run {
                run_index = i;
                st.waitcnt = stop - i;
                let n = r.run(st)?;
                if n > end - i {
                    return Err(format!("run of {n} past segment end"));
                }
                for _ in 0..n {
                    for c in 0..N {
                        cur[i * 4 + BASE - c] = cur[i * 4 - 4 + BASE - c];
                    }
                    i += 1;
                }
                if i == end {
                    return Ok(());
                }
                stop = i + st.waitcnt;
                continue;
            }
            if stop >= end {
                st.waitcnt = stop - end;
                return Ok(());
            }
            self.update(stop, st.wm_trigger);
            stop = i + (st.tabrand() & mask);
        }
    }
}

/// Decodes a whole QUIC stream of type RGB32 or RGBA.
pub fn decode(data: &[u8]) -> Result<Decoded, String> {
    if !data.len().is_multiple_of(4) || data.len() < 24 {
        return Err(format!("bad length {}", data.len()));
    }
    let mut r = BitReader { data, pos: 0 };
    if r.read32()? != MAGIC {
        return Err("bad magic".into());
    }
    if r.read32()? != VERSION {
        return Err("bad version".into());
    }
    let alpha = match r.read32()? {
        TYPE_RGB32 => false,
        TYPE_RGBA => true,
        t => return Err(format!("unsupported type {t}")),
    };
    let width = r.read32()?;
    let height = r.read32()?;
    if width == 0 || height == 0 || width > 1 << 16 || height > 1 << 16 {
        return Err(format!("bad size {width}x{height}"));
    }
    let (w, h) = (width as usize, height as usize);
    let stride = w * 4;
    let mut out = vec![0u8; stride * h];
    let mut rgb = Plane::<3, 2>::new(w);
    let mut rgb_state = State::new();
    let mut a = Plane::<1, 3>::new(w);
    let mut a_state = State::new();
    for y in 0..h {
        let (done, rest) = out.split_at_mut(y * stride);
        let prev = y.checked_sub(1).map(|p| &done[p * stride..]);
        let cur = &mut rest[..stride];
        rgb.row(&mut r, &mut rgb_state, prev, cur)?;
        if alpha {
            a.row(&mut r, &mut a_state, prev, cur)?;
        }
    }
    // spice-common's encoder ends with the partial word plus one zero word.
    let expect = (r.pos.div_ceil(32) + 1) * 4;
    if data.len() != expect {
        return Err(format!("{} bytes, expected {expect}", data.len()));
    }
    Ok(Decoded {
        width,
        height,
        alpha,
        data: out,
    })
}
