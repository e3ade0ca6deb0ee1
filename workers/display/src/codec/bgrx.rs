//! Pixels read in place from packed B,G,R,X bytes, the fourth byte
//! ignored: an encoder that works on the caller's buffer needs no copy of
//! it (a 1080p frame is 8 MB, and writing a fresh copy costs more in page
//! faults than most of the encode).

/// The colour bytes of a pixel read as a little-endian word.
const RGB: u32 = 0x00FF_FFFF;
/// `RGB` for two pixels in one little-endian word.
const RGB2: u64 = 0x00FF_FFFF_00FF_FFFF;

/// Pixel `i` of `d` as 0x00RRGGBB.
#[inline(always)]
pub(super) fn px(d: &[u8], i: usize) -> u32 {
    let b: [u8; 4] = d[4 * i..4 * i + 4].try_into().expect("four bytes");
    u32::from_le_bytes(b) & RGB
}

/// Pixels in `d`.
#[inline(always)]
pub(super) fn len(d: &[u8]) -> usize {
    d.len() / 4
}

/// Two pixels as one word, colour bytes only.
#[inline(always)]
fn pair(b: &[u8]) -> u64 {
    word(b) & RGB2
}

/// Two pixels as one word, fourth bytes included.
#[inline(always)]
fn word(b: &[u8]) -> u64 {
    let b: [u8; 8] = b.try_into().expect("eight bytes");
    u64::from_le_bytes(b)
}

/// Pixels from `a[ai..]` equal to those from `b[bi..]`. Compares sixteen
/// pixels (a cache line) at a time as eight two-pixel words, which the
/// compiler keeps in vector registers; one test of their union decides the
/// common case, and only the block that differs is searched for the first
/// difference.
#[inline]
pub(super) fn common_len(a: &[u8], ai: usize, b: &[u8], bi: usize) -> usize {
    let n = (len(a) - ai).min(len(b) - bi);
    let (a, b) = (&a[4 * ai..4 * (ai + n)], &b[4 * bi..4 * (bi + n)]);
    let mut k = 0;
    for (x, y) in a.chunks_exact(64).zip(b.chunks_exact(64)) {
        let d: [u64; 8] =
            std::array::from_fn(|j| word(&x[8 * j..8 * j + 8]) ^ word(&y[8 * j..8 * j + 8]));
        if d.iter().fold(0, |u, x| u | x) & RGB2 != 0 {
            return k + first_differing(&d);
        }
        k += 16;
    }
    finish(
        k,
        n,
        |j| pair(&a[4 * j..4 * j + 8]) ^ pair(&b[4 * j..4 * j + 8]),
        |j| px(a, j) == px(b, j),
    )
}

/// Pixels from `d[i..]` equal to `v` (0x00RRGGBB).
#[inline]
pub(super) fn run_len(d: &[u8], i: usize, v: u32) -> usize {
    let d = &d[4 * i..];
    let n = len(d);
    let vv = u64::from(v) | (u64::from(v) << 32);
    let mut k = 0;
    for x in d.chunks_exact(32) {
        let diff = [
            word(&x[..8]) ^ vv,
            word(&x[8..16]) ^ vv,
            word(&x[16..24]) ^ vv,
            word(&x[24..]) ^ vv,
        ];
        if (diff[0] | diff[1] | diff[2] | diff[3]) & RGB2 != 0 {
            return k + first_differing(&diff);
        }
        k += 8;
    }
    finish(k, n, |j| pair(&d[4 * j..4 * j + 8]) ^ vv, |j| px(d, j) == v)
}

/// Index of the first differing pixel given the two-pixel differences
/// `d` (fourth bytes not yet masked), one of which differs in colour.
#[inline(always)]
fn first_differing(d: &[u64]) -> usize {
    let mut k = 0;
    for &x in d {
        let x = x & RGB2;
        if x != 0 {
            return k + usize::from(x as u32 == 0);
        }
        k += 2;
    }
    k
}

/// The common length after `k` of `n` pixels compared, given the
/// difference of the two pixels at `j` and whether the pixel at `j` is
/// equal.
#[inline(always)]
fn finish(
    mut k: usize,
    n: usize,
    diff2: impl Fn(usize) -> u64,
    same: impl Fn(usize) -> bool,
) -> usize {
    while k + 2 <= n {
        let x = diff2(k);
        if x != 0 {
            return k + usize::from(x as u32 == 0);
        }
        k += 2;
    }
    if k < n && same(k) {
        k += 1;
    }
    k
}

/// Appends pixels `d[from..to]` as LZ literal runs (B,G,R each).
pub(super) fn push_literals(out: &mut Vec<u8>, d: &[u8], from: usize, to: usize) {
    let lits = &d[4 * from..4 * to];
    let count = to - from;
    let max = super::lz::MAX_COPY;
    let start = out.len();
    out.resize(start + 3 * count + count.div_ceil(max), 0);
    let mut dst = &mut out[start..];
    for chunk in lits.chunks(4 * max) {
        let k = chunk.len() / 4;
        // A chunk holds 1..=32 pixels.
        dst[0] = (k - 1) as u8;
        let (body, rest) = dst[1..].split_at_mut(3 * k);
        for (o, p) in body.chunks_exact_mut(3).zip(chunk.chunks_exact(4)) {
            o.copy_from_slice(&p[..3]);
        }
        dst = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_common(a: &[u8], ai: usize, b: &[u8], bi: usize) -> usize {
        (0..)
            .take_while(|&k| ai + k < len(a) && bi + k < len(b) && px(a, ai + k) == px(b, bi + k))
            .count()
    }

    proptest! {
        #[test]
        fn helpers_ignore_the_fourth_byte(
            // Few colours and random pads, so long equal stretches occur.
            pixels in proptest::collection::vec((0u8..2, any::<u8>()), 0..90),
            ai in 0usize..90,
            bi in 0usize..90,
        ) {
            let d: Vec<u8> = pixels.iter().flat_map(|&(c, pad)| [c, 0, 7, pad]).collect();
            let n = len(&d);
            let (ai, bi) = (ai.min(n), bi.min(n));
            prop_assert_eq!(common_len(&d, ai, &d, bi), naive_common(&d, ai, &d, bi));
            if ai < n {
                let v = px(&d, ai);
                let run = (ai..n).take_while(|&j| px(&d, j) == v).count();
                prop_assert_eq!(run_len(&d, ai, v), run);
            }
            let mut out = Vec::new();
            push_literals(&mut out, &d, bi.min(ai), ai.max(bi));
            let mut want = Vec::new();
            for chunk in (bi.min(ai)..ai.max(bi)).collect::<Vec<_>>().chunks(32) {
                want.push((chunk.len() - 1) as u8);
                for &j in chunk {
                    want.extend_from_slice(&d[4 * j..4 * j + 3]);
                }
            }
            prop_assert_eq!(out, want);
        }
    }
}
