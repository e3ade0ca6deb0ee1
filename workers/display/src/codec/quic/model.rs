//! The adaptive model that QUIC's encoder and decoder both run, step for
//! step: Golomb-Rice code family, context buckets, wait-mask schedule and
//! the MELCODE run-length state. Any divergence from spice-common's decoder
//! desynchronises the rest of the image, so every constant here is part of
//! the wire format.

/// Bits per channel (only 8-bit channels are produced).
pub(super) const BPC: u32 = 8;
/// Longest codeword the family may use (spice-common's `DEFmaxclen`).
const MAX_CODE_LEN: u32 = 26;
/// Number of Golomb codes (code numbers `0..BPC`); spice-common sizes the
/// counter arrays by `MAXNUMCODES`, which is 8 as well.
pub(super) const NCODES: usize = 8;
/// Final wait-mask index (`DEFwmimax`).
pub(super) const WM_MAX: u32 = 6;
/// Symbols coded before the wait-mask index grows (`DEFwminext`).
pub(super) const WM_NEXT: usize = 2048;

/// Pseudo-random table that spaces model updates (`tabrand`).
const TABRAND: [u32; 256] = [
    0x02C57542, 0x35427717, 0x2F5A2153, 0x9244F155, 0x7BD26D07, 0x354C6052, 0x57329B28, 0x2993868E,
    0x6CD8808C, 0x147B46E0, 0x99DB66AF, 0xE32B4CAC, 0x1B671264, 0x9D433486, 0x62A4C192, 0x06089A4B,
    0x9E3DCE44, 0xDAABEE13, 0x222425EA, 0xA46F331D, 0xCD589250, 0x8BB81D7F, 0xC8B736B9, 0x35948D33,
    0xD7AC7FD0, 0x5FBE2803, 0x2CFBC105, 0x013DBC4E, 0x7A37820F, 0x39F88E9E, 0xEDD58794, 0xC5076689,
    0xFCADA5A4, 0x64C2F46D, 0xB3BA3243, 0x8974B4F9, 0x5A05AEBD, 0x20AFCD00, 0x39E2B008, 0x88A18A45,
    0x600BDE29, 0xF3971ACE, 0xF37B0A6B, 0x7041495B, 0x70B707AB, 0x06BEFFBB, 0x4206051F, 0xE13C4EE3,
    0xC1A78327, 0x91AA067C, 0x8295F72A, 0x732917A6, 0x1D871B4D, 0x4048F136, 0xF1840E7E, 0x6A6048C1,
    0x696CB71A, 0x7FF501C3, 0x0FC6310B, 0x57E0F83D, 0x8CC26E74, 0x11A525A2, 0x946934C7, 0x7CD888F0,
    0x8F9D8604, 0x4F86E73B, 0x04520316, 0xDEEEA20C, 0xF1DEF496, 0x67687288, 0xF540C5B2, 0x22401484,
    0x3478658A, 0xC2385746, 0x01979C2C, 0x5DAD73C8, 0x0321F58B, 0xF0FEDBEE, 0x92826DDF, 0x284BEC73,
    0x5B1A1975, 0x03DF1E11, 0x20963E01, 0xA17CF12B, 0x740D776E, 0xA7A6BF3C, 0x01B5CCE4, 0x1118AA76,
    0xFC6FAC0A, 0xCE927E9B, 0x00BF2567, 0x806F216C, 0xBCA69056, 0x795BD3E9, 0xC9DC4557, 0x8929B6C2,
    0x789D52EC, 0x3F3FBF40, 0xB9197368, 0xA38C15B5, 0xC3B44FA8, 0xCA8333B0, 0xB7E8D590, 0xBE807FEB,
    0xBF5F8360, 0xD99E2F5C, 0x372928E1, 0x7C757C4C, 0x0DB5B154, 0xC01EDE02, 0x1FC86E78, 0x1F3985BE,
    0xB4805C77, 0x00C880FA, 0x974C1B12, 0x35AB0214, 0xB2DC840D, 0x5B00AE37, 0xD313B026, 0xB260969D,
    0x7F4C8879, 0x1734C4D3, 0x49068631, 0xB9F6A021, 0x6B863E6F, 0xCEE5DEBF, 0x29F8C9FB, 0x53DD6880,
    0x72B61223, 0x1F67A9FD, 0x0A0F6993, 0x13E59119, 0x11CCA12E, 0xFE6B6766, 0x16B6EFFC, 0x97918FC4,
    0xC2B8A563, 0x94F2F741, 0x0BFA8C9A, 0xD1537AE8, 0xC1DA349C, 0x873C60CA, 0x95005B85, 0x9B5C080E,
    0xBC8ABBD9, 0xE1EAB1D2, 0x6DAC9070, 0x4EA9EBF1, 0xE0CF30D4, 0x1EF5BD7B, 0xD161043E, 0x5D2FA2E2,
    0xFF5D3CAE, 0x86ED9F87, 0x2AA1DAA1, 0xBD731A34, 0x9E8F4B22, 0xB1C2C67A, 0xC21758C9, 0xA182215D,
    0xCCB01948, 0x8D168DF7, 0x04238CFE, 0x368C3DBC, 0x0AEADCA5, 0xBAD21C24, 0x0A71FEE5, 0x9FC5D872,
    0x54C152C6, 0xFC329483, 0x6783384A, 0xEDDB3E1C, 0x65F90E30, 0x884AD098, 0xCE81675A, 0x4B372F7D,
    0x68BF9A39, 0x43445F1E, 0x40F8D8CB, 0x90D5ACB6, 0x4CD07282, 0x349EEB06, 0x0C9D5332, 0x520B24EF,
    0x80020447, 0x67976491, 0x2F931CA3, 0xFE9B0535, 0xFCD30220, 0x61A9E6CC, 0xA487D8D7, 0x3F7C5DD1,
    0x7D0127C5, 0x48F51D15, 0x60DEA871, 0xC9A91CB7, 0x58B53BB3, 0x9D5E0B2D, 0x624A78B4, 0x30DBEE1B,
    0x9BDF22E7, 0x1DF5C299, 0x2D5643A7, 0xF4DD35FF, 0x03CA8FD6, 0x53B47ED8, 0x6F2C19AA, 0xFEB0C1F4,
    0x49E54438, 0x2F2577E6, 0xBF876969, 0x72440EA9, 0xFA0BAFB8, 0x74F5B3A0, 0x7DD357CD, 0x89CE1358,
    0x6EF2CDDA, 0x1E7767F3, 0xA6BE9FDB, 0x4F5F88F8, 0xBA994A3A, 0x08CA6B65, 0xE0893818, 0x9E00A16A,
    0xF42BFC8F, 0x9972EEDC, 0x749C8B51, 0x32C05F5E, 0xD706805F, 0x6BFBB7CF, 0xD9210A10, 0x31A1DB97,
    0x923A9559, 0x37A7A1F6, 0x059F8861, 0xCA493E62, 0x65157E81, 0x8F6467DD, 0xAB85FF9F, 0x9331AFF2,
    0x8616B9F5, 0xEDBD5695, 0xEE7E29B1, 0x313AC44F, 0xB903112F, 0x432EF649, 0xDC0A36C0, 0x61CF2BBA,
    0x81474925, 0xA8B6C7AD, 0xEE5931DE, 0xB2F8158D, 0x59FB7409, 0x2E3DFAED, 0x9AF25A3F, 0xE1FED4D5,
];

/// Counter-halving thresholds by wait-mask index, for model evolution 3.
const TRIGGERS: [u32; 11] = [110, 550, 900, 800, 550, 400, 350, 250, 140, 160, 140];

/// MELCODE: log2 of the expected run length in each of the 32 states.
const MELC_LEN: [u32; 32] = [
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13,
    14, 15,
];

/// Shape of the code family for `BPC`-bit residuals, per code number `l`.
pub(super) struct Family {
    /// Residuals below this are plain Golomb-Rice codewords.
    pub n_gr: [u32; NCODES],
    /// Zero-prefix length of the escape ("not GR") codeword.
    pub alt_prefix: [u32; NCODES],
    /// Suffix length of the escape codeword.
    pub alt_suffix: [u32; NCODES],
    /// Whole escape codeword length.
    pub alt_len: [u32; NCODES],
}

const fn ceil_log2(v: u32) -> u32 {
    if v <= 1 {
        0
    } else {
        32 - (v - 1).leading_zeros()
    }
}

const fn build_family() -> Family {
    let mut f = Family {
        n_gr: [0; NCODES],
        alt_prefix: [0; NCODES],
        alt_suffix: [0; NCODES],
        alt_len: [0; NCODES],
    };
    let mut l = 0;
    while l < BPC as usize {
        let mut prefix = MAX_CODE_LEN - BPC;
        let cap = (1u32 << (BPC - l as u32)) - 1;
        if prefix > cap {
            prefix = cap;
        }
        let escapes = (1u32 << BPC) - (prefix << l);
        f.n_gr[l] = prefix << l;
        f.alt_prefix[l] = prefix;
        f.alt_suffix[l] = ceil_log2(escapes);
        f.alt_len[l] = prefix + f.alt_suffix[l];
        l += 1;
    }
    f
}

pub(super) const FAMILY: Family = build_family();

/// Codeword and its length for residual `n` under code `l`.
const fn golomb(n: u32, l: usize) -> (u32, u32) {
    if n < FAMILY.n_gr[l] {
        ((1 << l) | (n & ((1 << l) - 1)), (n >> l) + l as u32 + 1)
    } else {
        (n - FAMILY.n_gr[l], FAMILY.alt_len[l])
    }
}

/// `CODES[l][n]` = codeword << 8 | length, for residual `n` under code
/// `l`. Codewords are below 256.
pub(super) static CODES: [[u32; 256]; NCODES] = {
    let mut t = [[0u32; 256]; NCODES];
    let mut l = 0;
    while l < NCODES {
        let mut n = 0;
        while n < 256 {
            let (code, len) = golomb(n as u32, l);
            t[l][n] = code << 8 | len;
            n += 1;
        }
        l += 1;
    }
    t
};

/// `LENS[n][l]` = codeword length of residual `n` under code `l`.
static LENS: [[u32; NCODES]; 256] = {
    let mut t = [[0u32; NCODES]; 256];
    let mut n = 0;
    while n < 256 {
        let mut l = 0;
        while l < NCODES {
            t[n][l] = golomb(n as u32, l).1;
            l += 1;
        }
        n += 1;
    }
    t
};

/// Maps a signed residual (mod 256) to the folded value 0, -1, 1, -2, ...
/// → 0, 1, 2, 3, ... (0 → 0, 1 → 2, 255 → 1).
#[cfg(test)]
pub(super) static U2L: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut s = 0;
    while s < 256 {
        t[s] = if s <= 127 {
            (s << 1) as u8
        } else {
            (((255 - s) << 1) + 1) as u8
        };
        s += 1;
    }
    t
};

/// Buckets group contexts (the previous folded residual) into sizes
/// 1, 2, 4, 8, ... (model evolution 3); the last one absorbs the tail.
const fn build_buckets() -> ([u8; 256], usize) {
    let mut t = [0u8; 256];
    let levels = 1u32 << BPC;
    let mut repcntr = 2u32;
    let mut size = 1u32;
    let mut end = 0u32;
    let mut n = 0u32;
    loop {
        let start = if n > 0 { end + 1 } else { 0 };
        repcntr -= 1;
        if repcntr == 0 {
            repcntr = 1;
            size *= 2;
        }
        end = start + size - 1;
        if end + size >= levels {
            end = levels - 1;
        }
        let mut i = start;
        while i <= end {
            t[i as usize] = n as u8;
            i += 1;
        }
        n += 1;
        if end >= levels - 1 {
            break;
        }
    }
    (t, n as usize)
}

const BUCKETS: ([u8; 256], usize) = build_buckets();
/// Context value → bucket number.
pub(super) static BUCKET_OF: [u8; 256] = BUCKETS.0;
/// Buckets per channel.
pub(super) const NBUCKETS: usize = BUCKETS.1;

/// First context value of each bucket, plus the end of the last one; the
/// contexts of bucket `b` are `BUCKET_START[b]..BUCKET_START[b + 1]`.
const BUCKET_START: [usize; NBUCKETS + 1] = {
    let mut t = [256usize; NBUCKETS + 1];
    let mut ctx = 256;
    while ctx > 0 {
        ctx -= 1;
        t[BUCKETS.0[ctx] as usize] = ctx;
    }
    t
};

/// One context bucket: accumulated code lengths per code, and the code
/// currently cheapest.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bucket {
    counters: [u32; NCODES],
    pub best: u32,
}

impl Bucket {
    pub const INIT: Bucket = Bucket {
        counters: [0; NCODES],
        best: BPC - 1,
    };

    /// Accounts residual `v` and re-picks the best code; ties keep the
    /// higher code number. Halves the counters once the best passes
    /// `trigger`.
    #[inline(always)]
    pub fn update(&mut self, v: u8, trigger: u32) {
        let lens = &LENS[v as usize];
        for (c, l) in self.counters.iter_mut().zip(lens) {
            *c += l;
        }
        // The minimum of `counter << 3 | (7 - code)` is the smallest
        // counter and, among equal ones, the highest code, found without
        // branches. Counters stay far below 2^28 (so the keys compare the
        // same as i32, which SSE2 has a compare for): the best one grows by
        // at least 1 per update and they are halved once it passes a
        // trigger (≤ 900), so none exceeds about 2 * 26 * 900.
        let mut keys = [0i32; NCODES];
        for (code, (k, &c)) in keys.iter_mut().zip(&self.counters).enumerate() {
            *k = (c << 3 | (NCODES - 1 - code) as u32) as i32;
        }
        // Pairwise halving, which the compiler turns into vector minima.
        let mut width = NCODES / 2;
        while width > 0 {
            for i in 0..width {
                keys[i] = keys[i].min(keys[i + width]);
            }
            width /= 2;
        }
        let key = keys[0] as u32;
        self.best = (NCODES as u32 - 1) - (key & 7);
        if key >> 3 > trigger {
            for c in &mut self.counters {
                *c >>= 1;
            }
        }
    }
}

/// The encoder's model of one channel: its buckets, and for every context
/// value the row of [`CODES`] of its bucket's best code, so the per-pixel
/// path takes one look-up where it would take three (context → bucket →
/// best → codeword), with no bounds check (a `u8` indexes a 256-entry
/// row). The table is rewritten only when a bucket's best code changes,
/// which is rare next to the pixels coded.
#[derive(Clone)]
pub(super) struct Channel {
    buckets: [Bucket; NBUCKETS],
    code_of: [&'static [u32; 256]; 256],
}

impl Channel {
    pub fn new() -> Channel {
        let init = Bucket::INIT;
        Channel {
            buckets: [init; NBUCKETS],
            code_of: [&CODES[init.best as usize]; 256],
        }
    }

    /// Codeword << 8 | length of residual `v` in context `ctx`.
    #[inline(always)]
    pub fn code(&self, ctx: u8, v: u8) -> u32 {
        self.code_of[usize::from(ctx)][usize::from(v)]
    }

    /// Feeds residual `v`, seen in context `ctx`, to that context's bucket.
    #[inline]
    pub fn update(&mut self, ctx: u8, v: u8, trigger: u32) {
        let b = usize::from(BUCKET_OF[usize::from(ctx)]) % NBUCKETS;
        let bucket = &mut self.buckets[b];
        let old = bucket.best;
        bucket.update(v, trigger);
        if bucket.best != old {
            let row = &CODES[bucket.best as usize % NCODES];
            self.code_of[BUCKET_START[b]..BUCKET_START[b + 1]].fill(row);
        }
    }
}

/// The per-stream schedule shared by a group of channels (RGB share one;
/// alpha has its own): update spacing, wait-mask growth and MELCODE.
#[derive(Clone, Debug)]
pub(super) struct State {
    pub waitcnt: usize,
    seed: u32,
    pub wm_trigger: u32,
    pub wmidx: u32,
    pub wmileft: usize,
    melcstate: usize,
    pub melclen: u32,
    pub melcorder: usize,
}

impl State {
    pub fn new() -> State {
        let mut s = State {
            waitcnt: 0,
            seed: 0xff,
            wm_trigger: 0,
            wmidx: 0,
            wmileft: WM_NEXT,
            melcstate: 0,
            melclen: MELC_LEN[0],
            melcorder: 1 << MELC_LEN[0],
        };
        s.set_trigger();
        s
    }

    fn set_trigger(&mut self) {
        self.wm_trigger = TRIGGERS[(self.wmidx as usize).min(TRIGGERS.len() - 1)];
    }

    #[inline(always)]
    pub fn tabrand(&mut self) -> usize {
        self.seed = self.seed.wrapping_add(1);
        TABRAND[(self.seed & 0xff) as usize] as usize
    }

    #[inline(always)]
    pub fn waitmask(&self) -> usize {
        (1usize << self.wmidx) - 1
    }

    /// A full expected run was seen: expect longer runs.
    #[inline(always)]
    pub fn melc_up(&mut self) {
        if self.melcstate < MELC_LEN.len() - 1 {
            self.melcstate += 1;
            self.melclen = MELC_LEN[self.melcstate];
            self.melcorder = 1 << self.melclen;
        }
    }

    /// A run ended: expect shorter runs.
    #[inline(always)]
    pub fn melc_down(&mut self) {
        if self.melcstate > 0 {
            self.melcstate -= 1;
            self.melclen = MELC_LEN[self.melcstate];
            self.melcorder = 1 << self.melclen;
        }
    }

    /// Cuts a row of `width` pixels into segments at the points where the
    /// wait-mask index grows, calling `seg(state, start, end, waitmask)`.
    #[inline(always)]
    pub fn split_row<E>(
        &mut self,
        width: usize,
        mut seg: impl FnMut(&mut State, usize, usize, usize) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut pos = 0;
        let mut left = width;
        while self.wmidx < WM_MAX && self.wmileft <= left {
            if self.wmileft > 0 {
                let n = self.wmileft;
                let mask = self.waitmask();
                seg(self, pos, pos + n, mask)?;
                left -= n;
                pos += n;
            }
            self.wmidx += 1;
            self.set_trigger();
            self.wmileft = WM_NEXT;
        }
        if left > 0 {
            let mask = self.waitmask();
            seg(self, pos, pos + left, mask)?;
            if self.wmidx < WM_MAX {
                self.wmileft -= left;
            }
        }
        Ok(())
    }
}
