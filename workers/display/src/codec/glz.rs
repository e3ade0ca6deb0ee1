//! GLZ encoder: LZ whose matches may also point into earlier images of a
//! dictionary the client keeps for the session (spice-gtk `decode-glz.c`).
//!
//! Header, big-endian: LZ magic, LZ version, one byte `type | top_down << 4`,
//! width, height, stride, u64 image id, u32 `win_head_dist`. The body is
//! like LZ but a match names an image distance and a pixel offset: with
//! image distance 0 the offset is a distance back in this image (biased by
//! 1), otherwise it is the absolute index of the first pixel in image
//! `id - image_dist`. Lengths are unbiased for RGB and biased by 2 for the
//! alpha pass. After decoding image `id`, the client frees images older than
//! `id - win_head_dist`.
//!
//! The encoder keeps the images the client holds, at most `window_pixels`
//! pixels including the image being coded, and a hash table of three-pixel
//! hashes over the whole window. It reads them as the caller's B,G,R,X
//! bytes: `encode_shared` keeps the caller's buffer itself, `encode` a copy.
//! Positions are global: the images are laid end to end, so one number
//! names image and pixel.

use std::collections::VecDeque;
use std::sync::Arc;

use super::bgrx::{self, px};
use super::lz::{self, Format};
use super::{CodecError, Pixels};

/// Hash table size (log2) over the window.
const HASH_BITS: u32 = 19;
/// Entries per bucket, in one cache line: the newest position and the one
/// it displaced. On noisy content two positions per hash find about as
/// many matches as a table twice the size, whose misses would cost more
/// than the second check.
const WAYS: usize = 2;
/// Matches shorter than this are measured against the older entry too.
const OLDER_BELOW: usize = 4;
/// Low bits of a table entry: the global position modulo `1 << POS_BITS`.
/// The rest is a check of the hashed pixels. A position that aliases one
/// more than `1 << POS_BITS` pixels back is only a wrong candidate: every
/// candidate is checked pixel by pixel.
const POS_BITS: u32 = 26;
const POS_MASK: u32 = (1 << POS_BITS) - 1;
/// Pixel offsets must stay below this (25 bits in the long form).
const MAX_PIXEL_OFS: usize = 1 << 25;
/// Match offsets (source − position) remembered from recent long matches,
/// tried at every position: a scrolled frame repeats the previous one at a
/// fixed vertical shift.
const RECENT: usize = 4;
/// Matches at least this long are remembered in `recent`.
const RECENT_MIN_LEN: usize = 8;
/// Rows without a match at the same position of the previous image after
/// which that position is only tried every `SAME_PROBE` rows.
const SAME_IDLE_ROWS: u32 = 2;
const SAME_PROBE: usize = 16;

/// An image the client holds, as the encoder saw it.
struct WindowImage {
    id: u64,
    /// Global position of its first pixel.
    base: u64,
    width: u32,
    /// B,G,R,X rows; the fourth byte is ignored.
    pixels: Arc<Vec<u8>>,
    /// `row_signature` of each row.
    rows: Vec<Option<u64>>,
}

/// One client session's GLZ dictionary, mirroring the client's window.
pub struct GlzEncoder {
    window_pixels: u32,
    /// Id of the next image.
    next_id: u64,
    /// Global position of the next image's first pixel.
    next_base: u64,
    /// Oldest first; ids consecutive; the bases laid end to end.
    window: VecDeque<WindowImage>,
    /// Pixels in `window`.
    window_sum: u64,
    /// Per hash: a check of the three pixels (high bits) and the low
    /// `POS_BITS` bits of the global position last seen. The check spares
    /// most reads of a far, likely uncached, window pixel on a miss; four
    /// bytes an entry keep twice the entries in the same memory (a bigger
    /// table costs more in TLB misses than it saves).
    table: Vec<u32>,
    /// Offsets (source − position) of recent long matches, newest first;
    /// 0 is unused.
    recent: [i64; RECENT],
    /// Buffers of evicted copies, reused for the next copies (a 1080p
    /// frame is 8 MB; fresh pages cost faults).
    spare: Vec<Vec<u8>>,
}

impl GlzEncoder {
    /// A dictionary for a client that announced `window_pixels` in
    /// DISPLAY_INIT.
    pub fn new(window_pixels: u32) -> Self {
        Self {
            window_pixels,
            next_id: 0,
            next_base: 0,
            window: VecDeque::new(),
            window_sum: 0,
            table: Vec::new(),
            recent: [0; RECENT],
            spare: Vec::new(),
        }
    }

    /// A fresh dictionary whose first image takes id `first_id`: for a
    /// client whose window still holds an earlier dictionary's images.
    /// The first image says its window starts at itself, so the client
    /// drops every older one before anything refers to them.
    pub fn starting_at(window_pixels: u32, first_id: u64) -> Self {
        let mut e = Self::new(window_pixels);
        e.next_id = first_id;
        e
    }

    /// The id the next image will take.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Encodes `img` as a GLZ_RGB stream, header included, top-down.
    ///
    /// Every image this returns takes the next id: the caller must send
    /// them all, in order, to the client whose window this mirrors. The
    /// window keeps a copy of the pixels; `encode_shared` spares it.
    pub fn encode(&mut self, img: &Pixels) -> Result<Vec<u8>, CodecError> {
        lz::check_size("glz", img)?;
        let mut copy = self.spare.pop().unwrap_or_default();
        copy.clear();
        copy.extend_from_slice(img.data);
        self.encode_held(Arc::new(copy), img.width, img.height, img.alpha)
    }

    /// Like `encode`, for packed B,G,R,X (B,G,R,A when `alpha`) rows of
    /// `width × height` pixels the caller hands over: the window keeps
    /// `data` itself, without a copy, until the client drops the image.
    /// The caller may keep a handle (say, for a plain bitmap should this
    /// fail: an error keeps none, so `Arc::try_unwrap` then gets the
    /// buffer back without a copy).
    pub fn encode_shared(
        &mut self,
        data: Arc<Vec<u8>>,
        width: u32,
        height: u32,
        alpha: bool,
    ) -> Result<Vec<u8>, CodecError> {
        lz::check_size(
            "glz",
            &Pixels {
                width,
                height,
                data: &data,
                alpha,
            },
        )?;
        self.encode_held(data, width, height, alpha)
    }

    /// `encode` for checked pixels the window may keep.
    fn encode_held(
        &mut self,
        data: Arc<Vec<u8>>,
        width: u32,
        height: u32,
        alpha: bool,
    ) -> Result<Vec<u8>, CodecError> {
        let n = bgrx::len(&data) as u64;
        let id = self.next_id;
        let base = self.next_base;

        // Make room: the client holds the window plus this image.
        let fits = n <= u64::from(self.window_pixels);
        if fits {
            while self.window_sum + n > u64::from(self.window_pixels) {
                self.evict_oldest();
            }
        } else {
            while !self.window.is_empty() {
                self.evict_oldest();
            }
        }
        let win_head_dist = match self.window.front() {
            Some(oldest) => match u32::try_from(id - oldest.id) {
                Ok(dist) => dist,
                Err(_) => {
                    while !self.window.is_empty() {
                        self.evict_oldest();
                    }
                    0
                }
            },
            None => 0,
        };
        if self.table.is_empty() {
            self.table = vec![0; 1 << HASH_BITS];
        }

        let kind = if alpha { lz::TYPE_RGBA } else { lz::TYPE_RGB32 };
        let mut out = Vec::with_capacity(33 + data.len() / 8);
        out.extend_from_slice(&lz::MAGIC.to_be_bytes());
        out.extend_from_slice(&lz::VERSION.to_be_bytes());
        // The type fits the low 4 bits; bit 4 is top_down.
        out.push(kind as u8 | 0x10);
        out.extend_from_slice(&width.to_be_bytes());
        out.extend_from_slice(&height.to_be_bytes());
        out.extend_from_slice(&(width * 4).to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&win_head_dist.to_be_bytes());

        let rows = self.encode_rgb(&data, width, id, base, &mut out);
        if alpha {
            let alpha = lz::alpha_units(&Pixels {
                width,
                height,
                data: &data,
                alpha,
            });
            let fmt = GlzFormat { bias: 2 };
            lz::encode_units(&alpha, width as usize, &fmt, &mut Vec::new(), &mut out);
        }

        self.next_id += 1;
        self.next_base += n;
        if fits {
            self.window_sum += n;
            self.window.push_back(WindowImage {
                id,
                base,
                width,
                pixels: data,
                rows,
            });
        } else {
            self.recycle(data);
        }
        Ok(out)
    }

    fn evict_oldest(&mut self) {
        if let Some(old) = self.window.pop_front() {
            self.window_sum -= bgrx::len(&old.pixels) as u64;
            self.recycle(old.pixels);
        }
    }

    /// Keeps one buffer of our own for the next copy; a buffer the caller
    /// still shares is only let go.
    fn recycle(&mut self, pixels: Arc<Vec<u8>>) {
        if self.spare.is_empty() {
            if let Ok(buffer) = Arc::try_unwrap(pixels) {
                self.spare.push(buffer);
            }
        }
    }

    /// Codes the RGB pass of image `id` (B,G,R,X bytes `p`), whose first
    /// pixel sits at global position `base`, with references into itself
    /// and the window; returns its row signatures.
    fn encode_rgb(
        &mut self,
        p: &[u8],
        width: u32,
        id: u64,
        base: u64,
        out: &mut Vec<u8>,
    ) -> Vec<Option<u64>> {
        let n = bgrx::len(p);
        let w = width as usize;
        let src = Sources {
            p,
            id,
            base,
            window: &self.window,
            win_start: self.window.front().map_or(base, |f| f.base),
        };
        // The previous image, when it has the same width: unchanged areas
        // sit at the same index, scrolled ones at a row shift.
        let prev = self
            .window
            .back()
            .filter(|b| b.id + 1 == id && b.width == width);
        let same_shape = prev.filter(|b| bgrx::len(&b.pixels) == n).map(|b| b.base);
        // Each row's signature is taken as the row is reached: its samples
        // then bring in lines the coding reads next, rather than missing
        // the cache in a pass of their own.
        let height = n / w;
        let mut rows = Vec::with_capacity(height);
        let prev_rows = prev.map(|b| (b.base, rows_by_signature(&b.rows)));
        let same_shape_delta = same_shape.map(|prev| prev as i64 - base as i64);
        let table = &mut self.table;
        let recent = &mut self.recent;
        let mut lit_start = 0;
        // The last match's source: as a distance back in this image (0 for
        // none), tried like the pixel before; or, in the window, as a
        // follow.
        let mut last_near = 0;
        let mut last_far: Option<i64> = None;
        // The offset to the row of the previous image this row repeats,
        // updated at each row start.
        let mut row_delta = None;
        let mut row_end = 0;
        // Candidates at fixed offsets, resolved at each row start and after
        // each match.
        let mut follows: Vec<Follow> = Vec::with_capacity(3 + RECENT);
        let mut stale = true;
        // Rows since the previous image's same position last gave a match,
        // and whether it did in this row: on content that changed
        // everywhere it is only tried on some rows, as reading the previous
        // image beside this one doubles the memory traffic.
        let mut same_idle = 0;
        let mut same_won = false;
        let mut try_same = same_shape_delta;
        let mut i = 0;
        while i + 2 < n {
            if i >= row_end {
                let y = i / w;
                same_idle = if same_won { 0 } else { same_idle + 1 };
                same_won = false;
                try_same = same_shape_delta
                    .filter(|_| same_idle <= SAME_IDLE_ROWS || y.is_multiple_of(SAME_PROBE));
                row_end = (y + 1) * w;
                let row_start = base + (y * w) as u64;
                // Rows a match went over get theirs here too.
                for y in rows.len()..=y {
                    rows.push(row_signature(&p[4 * y * w..4 * (y + 1) * w]));
                }
                let sig = rows[y];
                row_delta = prev_rows.as_ref().and_then(|(prev_base, by_sig)| {
                    let row = prev_base + by_sig.get(&sig?)? * w as u64;
                    Some(row as i64 - row_start as i64)
                });
                stale = true;
            }
            if stale {
                follows.clear();
                let deltas = [last_far, try_same, row_delta]
                    .into_iter()
                    .flatten()
                    .chain(recent.iter().copied().filter(|&d| d != 0));
                for delta in deltas {
                    // Runs and the row above have candidates of their own.
                    if delta == -1
                        || delta == -(w as i64)
                        || follows.iter().any(|f| f.delta == delta)
                    {
                        continue;
                    }
                    if let Some(f) = src.follow(i, delta) {
                        follows.push(f);
                    }
                }
                stale = false;
            }
            let (x0, x1, x2) = (px(p, i), px(p, i + 1), px(p, i + 2));
            if i > 0 && px(p, i - 1) == x0 && x0 == x1 && x1 == x2 {
                // A run: coded at once.
                let len = 3 + bgrx::run_len(p, i + 3, x0);
                bgrx::push_literals(out, p, lit_start, i);
                push_match(out, len, 0, 0);
                i += len;
                lit_start = i;
                continue;
            }
            let here = base + i as u64;
            let (h, check) = hash3(x0, x1, x2);
            let stored = [table[h], table[h + 1]];
            table[h + 1] = stored[0];
            table[h] = check | (here as u32 & POS_MASK);
            // An entry's position, if its pixels start like these; a stale
            // or aliased one is still checked pixel by pixel.
            let lookup = |stored: u32| {
                if stored & !POS_MASK != check {
                    return None;
                }
                let back = u64::from((here as u32).wrapping_sub(stored) & POS_MASK);
                if back == 0 || back > here {
                    return None;
                }
                src.image_at(here - back)
                    .filter(|&(source, _, s)| {
                        s + 1 < bgrx::len(source) && px(source, s) == x0 && px(source, s + 1) == x1
                    })
                    .map(|(source, image_dist, s)| (source, image_dist, s, -(back as i64)))
            };
            let newest = lookup(stored[0]);
            // The older entry stands in for a newest that fails, and is
            // measured too when the other candidates give only a short
            // match (on noisy content, where matches are short, this finds
            // about what a table twice the size would).
            let (hashed, older) = match newest {
                Some(_) => (newest, Some(stored[1])),
                None => (lookup(stored[1]), None),
            };
            // The common case on noisy content: no candidate repeats the
            // next two pixels (a shorter match saves nothing).
            let near = |d: usize| d <= i && px(p, i - d) == x0 && px(p, i - d + 1) == x1;
            let (run, above) = (near(1), near(w));
            let last = last_near != 1 && last_near != w && last_near != 0 && near(last_near);
            if hashed.is_none()
                && !run
                && !above
                && !last
                && !follows.iter().any(|f| f.pair(i) == Some([x0, x1]))
            {
                i += 1;
                continue;
            }
            // The candidate that saves most bytes; the first wins ties.
            let mut best: Option<Match> = None;
            let consider =
                |best: &mut Option<Match>, source: &[u8], image_dist: u64, s: usize, delta: i64| {
                    // Only a longer match is worth measuring.
                    if let Some(b) = *best {
                        if s + b.len >= bgrx::len(source)
                            || i + b.len >= n
                            || px(source, s + b.len) != px(p, i + b.len)
                        {
                            return;
                        }
                    }
                    let len = bgrx::common_len(source, s, p, i);
                    let pixel_ofs = if image_dist == 0 { i - s - 1 } else { s };
                    let Some(cost) = match_cost(len, image_dist, pixel_ofs) else {
                        return;
                    };
                    let saving = (len * 3) as isize - cost as isize;
                    if !matches!(*best, Some(b) if b.saving >= saving) {
                        *best = Some(Match {
                            len,
                            image_dist,
                            pixel_ofs,
                            delta,
                            saving,
                        });
                    }
                };
            if let Some((source, image_dist, s, delta)) = hashed {
                consider(&mut best, source, image_dist, s, delta);
            }
            if run {
                consider(&mut best, p, 0, i - 1, -1);
            }
            if above {
                consider(&mut best, p, 0, i - w, -(w as i64));
            }
            if last {
                consider(&mut best, p, 0, i - last_near, -(last_near as i64));
            }
            for f in &follows {
                if f.pair(i) == Some([x0, x1]) {
                    let s = i.wrapping_add_signed(f.off);
                    consider(&mut best, f.src, f.image_dist, s, f.delta);
                }
            }
            if best.is_none_or(|b| b.len < OLDER_BELOW) {
                if let Some((source, image_dist, s, delta)) = older.and_then(lookup) {
                    consider(&mut best, source, image_dist, s, delta);
                }
            }
            match best {
                Some(m) if m.saving > 1 => {
                    bgrx::push_literals(out, p, lit_start, i);
                    push_match(out, m.len, m.image_dist, m.pixel_ofs);
                    let delta = m.delta;
                    same_won |= Some(delta) == same_shape_delta;
                    if m.image_dist == 0 {
                        // A candidate of its own, not a follow: sources in
                        // this image change with most matches, and the
                        // follows are rebuilt only when the window's do.
                        last_near = m.pixel_ofs + 1;
                        last_far = None;
                    } else {
                        last_near = 0;
                        last_far = Some(delta);
                        if m.len >= RECENT_MIN_LEN {
                            remember(recent, delta);
                        }
                        stale |= !follows.iter().any(|f| f.delta == delta);
                    }
                    let end = i + m.len;
                    hash_tail(table, p, base, i + 1, end);
                    i = end;
                    lit_start = i;
                }
                _ => i += 1,
            }
        }
        bgrx::push_literals(out, p, lit_start, n);
        for y in rows.len()..height {
            rows.push(row_signature(&p[4 * y * w..4 * (y + 1) * w]));
        }
        rows
    }
}

/// Hashes the last two positions of a match of image `p` (first pixel at
/// global `base`) that ends at `end` (none before `from`) into `table`:
/// later data most often repeats what follows a match; the inside of a
/// match is not hashed.
fn hash_tail(table: &mut [u32], p: &[u8], base: u64, from: usize, end: usize) {
    for k in from.max(end.saturating_sub(2))..end.min(bgrx::len(p).saturating_sub(2)) {
        let (h, check) = hash3(px(p, k), px(p, k + 1), px(p, k + 2));
        table[h + 1] = table[h];
        table[h] = check | ((base + k as u64) as u32 & POS_MASK);
    }
}

/// A row's signature hashes this many stretches of it, spread across
/// it, of `ROW_SPAN` adjacent pixels each: adjacent pixels share cache
/// lines, and the row is seldom in the cache when its signature is taken.
const ROW_SPANS: usize = 4;
const ROW_SPAN: usize = 16;

/// A cheap signature of a row (B,G,R,X), from the pixels of `ROW_SPANS`
/// stretches of it (all of a narrow row), or `None` when they are all
/// equal (a blank row repeats everywhere and says nothing about motion).
fn row_signature(row: &[u8]) -> Option<u64> {
    let width = bgrx::len(row);
    let first = px(row, width.checked_sub(1)? / 2);
    let mut h = u64::from(first);
    let mut varied = false;
    let mut add = |from: usize, to: usize| {
        for x in from..to {
            let x = px(row, x);
            varied |= x != first;
            h = (h ^ u64::from(x)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    };
    if width <= ROW_SPANS * ROW_SPAN {
        add(0, width);
    } else {
        for k in 0..ROW_SPANS {
            // Centred on (2k + 1) / (2 ROW_SPANS) of the row: inside it, as
            // width > ROW_SPANS * ROW_SPAN.
            let start = (2 * k + 1) * width / (2 * ROW_SPANS) - ROW_SPAN / 2;
            add(start, start + ROW_SPAN);
        }
    }
    varied.then_some(h ^ (h >> 31))
}

/// The first row with each signature of an image whose row signatures are
/// `rows`: where a row of the next image with that signature may have
/// scrolled from.
fn rows_by_signature(rows: &[Option<u64>]) -> std::collections::HashMap<u64, u64> {
    let mut by_signature = std::collections::HashMap::with_capacity(rows.len());
    for (y, sig) in rows.iter().enumerate() {
        if let Some(sig) = sig {
            by_signature.entry(*sig).or_insert(y as u64);
        }
    }
    by_signature
}

/// What matches may refer to: the image being coded and the window.
struct Sources<'a> {
    /// The image being coded, id `id`, first pixel at global `base`.
    p: &'a [u8],
    id: u64,
    base: u64,
    window: &'a VecDeque<WindowImage>,
    /// Global position of the window's first pixel.
    win_start: u64,
}

impl<'a> Sources<'a> {
    /// The image holding global position `g` (the one being coded or
    /// one of the window): its pixels, its distance back from the one
    /// being coded and `g`'s index in it; `None` outside the window.
    fn image_at(&self, g: u64) -> Option<(&'a [u8], u64, usize)> {
        if g >= self.base {
            let s = usize::try_from(g - self.base).ok()?;
            return (s < bgrx::len(self.p)).then_some((self.p, 0, s));
        }
        if g < self.win_start {
            return None;
        }
        let window: &'a VecDeque<WindowImage> = self.window;
        let im = match window.back() {
            Some(last) if last.base <= g => last,
            _ => {
                let k = window.partition_point(|im| im.base <= g).checked_sub(1)?;
                window.get(k)?
            }
        };
        let s = usize::try_from(g - im.base).ok()?;
        let pixels: &'a [u8] = &im.pixels;
        (s < bgrx::len(pixels)).then_some((pixels, self.id - im.id, s))
    }

    /// The candidate `delta` pixels away from pixel `i` of the image being
    /// coded and from the pixels after it, while they stay in the image
    /// `i + delta` falls in; `None` if that is not an earlier pixel of
    /// the window or of the image.
    fn follow(&self, i: usize, delta: i64) -> Option<Follow<'a>> {
        let here = self.base + i as u64;
        let g = here.checked_add_signed(delta).filter(|&g| g < here)?;
        let (src, image_dist, s) = self.image_at(g)?;
        Some(Follow {
            src,
            lim: bgrx::len(src) - 1,
            off: s as isize - i as isize,
            image_dist,
            delta,
        })
    }
}

/// A candidate source at a fixed offset from the pixel being coded.
struct Follow<'a> {
    /// The image the source lies in, B,G,R,X.
    src: &'a [u8],
    /// Pixels of `src` that have a next one.
    lim: usize,
    /// Index in `src` minus index in the image being coded.
    off: isize,
    /// `src`'s distance back from the image being coded.
    image_dist: u64,
    /// Global position of the source minus that of the pixel.
    delta: i64,
}

impl Follow<'_> {
    /// The two source pixels for pixel `i`, if `src` holds them.
    fn pair(&self, i: usize) -> Option<[u32; 2]> {
        let s = i.wrapping_add_signed(self.off);
        (s < self.lim).then(|| [px(self.src, s), px(self.src, s + 1)])
    }
}

/// Moves `delta` to the front of `recent`.
fn remember(recent: &mut [i64; RECENT], delta: i64) {
    let at = recent
        .iter()
        .position(|&d| d == delta)
        .unwrap_or(RECENT - 1);
    recent.copy_within(..at, 1);
    recent[0] = delta;
}

/// Index of the first entry of the bucket of three pixels (`WAYS`
/// entries from there) and their check, in the bits of a table entry
/// above `POS_MASK`.
fn hash3(a: u32, b: u32, c: u32) -> (usize, u32) {
    let x = (u64::from(a) | (u64::from(b) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(c).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let x = x ^ (x >> 29);
    let bucket = (x >> (64 - HASH_BITS + WAYS.ilog2())) as usize;
    (bucket * WAYS, x as u32 & !POS_MASK)
}

/// A candidate match for the RGB pass.
#[derive(Clone, Copy)]
struct Match {
    len: usize,
    image_dist: u64,
    /// Distance − 1 inside the image, or the absolute index in another.
    pixel_ofs: usize,
    /// Global position of the source minus that of the match.
    delta: i64,
    saving: isize,
}

/// Bytes a match takes (`len` is the stored length, ≥ 1), or `None` when
/// the format cannot code its offsets.
fn match_cost(len: usize, image_dist: u64, pixel_ofs: usize) -> Option<usize> {
    let ext = if len >= 7 { (len - 7) / 255 + 1 } else { 0 };
    if pixel_ofs < 1 << 12 && image_dist < 1 << 30 {
        let more = match image_dist {
            0..0x40 => 0,
            0x40..0x4000 => 1,
            0x4000..0x40_0000 => 2,
            _ => 3,
        };
        Some(3 + ext + more)
    } else if pixel_ofs < MAX_PIXEL_OFS && image_dist < 1 << 24 {
        Some(3 + ext + dist_bytes(image_dist) + usize::from(pixel_ofs >= 1 << 17))
    } else {
        None
    }
}

/// Bytes of a long-form image distance.
fn dist_bytes(image_dist: u64) -> usize {
    match image_dist {
        0 => 0,
        1..0x100 => 1,
        0x100..0x1_0000 => 2,
        _ => 3,
    }
}

/// Appends a match whose offsets `match_cost` accepted; `len` is the stored
/// length (≥ 1).
#[inline]
fn push_match(out: &mut Vec<u8>, len: usize, image_dist: u64, pixel_ofs: usize) {
    let len_bits = (len.min(7) as u8) << 5;
    let short = pixel_ofs < 1 << 12 && image_dist < 1 << 30;
    let flag = if short { 0 } else { 0x10 };
    out.push(len_bits | flag | (pixel_ofs & 0x0F) as u8);
    if len >= 7 {
        lz::push_length_ext(out, len - 7);
    }
    out.push((pixel_ofs >> 4) as u8);
    if short {
        let more = match image_dist {
            0..0x40 => 0,
            0x40..0x4000 => 1,
            0x4000..0x40_0000 => 2,
            _ => 3,
        };
        out.push(((more as u8) << 6) | (image_dist & 0x3F) as u8);
        for k in 0..more {
            out.push((image_dist >> (6 + 8 * k)) as u8);
        }
    } else {
        let more = dist_bytes(image_dist);
        let very_long = pixel_ofs >= 1 << 17;
        out.push(
            ((more as u8) << 6) | (u8::from(very_long) << 5) | ((pixel_ofs >> 12) & 0x1F) as u8,
        );
        for k in 0..more {
            out.push((image_dist >> (8 * k)) as u8);
        }
        if very_long {
            out.push((pixel_ofs >> 17) as u8);
        }
    }
}

/// In-image GLZ matches, for the alpha pass (`bias` 2).
struct GlzFormat {
    bias: usize,
}

impl Format for GlzFormat {
    fn max_distance(&self) -> usize {
        MAX_PIXEL_OFS
    }
    fn min_len(&self) -> usize {
        self.bias + 1
    }
    fn cost(&self, distance: usize, len: usize) -> usize {
        match_cost(len - self.bias, 0, distance - 1).unwrap_or(usize::MAX / 2)
    }
    fn push_match(&self, out: &mut Vec<u8>, distance: usize, len: usize) {
        push_match(out, len - self.bias, 0, distance - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::lz::tests::{expected, screen_like};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The client side: spice-gtk's window, with every check it makes, and
    /// an error where it would hang or read out of bounds.
    struct Client {
        images: BTreeMap<u64, Vec<[u8; 4]>>,
        next_id: u64,
        window_pixels: u64,
    }

    impl Client {
        fn new(window_pixels: u32) -> Self {
            Self {
                images: BTreeMap::new(),
                next_id: 0,
                window_pixels: u64::from(window_pixels),
            }
        }

        fn pass(
            &self,
            s: &[u8],
            pos: &mut usize,
            out: &mut [[u8; 4]],
            id: u64,
            alpha: bool,
        ) -> Result<(), String> {
            let n = out.len();
            let byte = |pos: &mut usize| -> Result<usize, String> {
                let b = *s.get(*pos).ok_or("stream ends early")?;
                *pos += 1;
                Ok(usize::from(b))
            };
            let mut op = 0;
            while op < n {
                let ctrl = byte(pos)?;
                if ctrl >= 32 {
                    let mut len = ctrl >> 5;
                    let long = ctrl & 0x10 != 0;
                    let mut ofs = ctrl & 0x0F;
                    if len == 7 {
                        loop {
                            let code = byte(pos)?;
                            len += code;
                            if code != 255 {
                                break;
                            }
                        }
                    }
                    ofs += byte(pos)? << 4;
                    let code = byte(pos)?;
                    let more = code >> 6;
                    let mut dist: u64 = 0;
                    if !long {
                        dist = (code & 0x3F) as u64;
                        for k in 0..more {
                            dist += (byte(pos)? as u64) << (6 + 8 * k);
                        }
                    } else {
                        ofs += (code & 0x1F) << 12;
                        for k in 0..more {
                            dist += (byte(pos)? as u64) << (8 * k);
                        }
                        if code & 0x20 != 0 {
                            ofs += byte(pos)? << 17;
                        }
                    }
                    if alpha {
                        len += 2;
                    }
                    if op + len > n {
                        return Err(format!("match overruns at {op}"));
                    }
                    if dist == 0 {
                        let d = ofs + 1;
                        if d > op {
                            return Err(format!("in-image ref before start at {op}"));
                        }
                        for k in op..op + len {
                            if alpha {
                                out[k][3] = out[k - d][3];
                            } else {
                                out[k] = out[k - d];
                            }
                        }
                    } else {
                        let src_id = id.checked_sub(dist).ok_or("ref before id 0")?;
                        let src = self.images.get(&src_id).ok_or(format!(
                            "image {id} refers to image {src_id} the client lacks: hang"
                        ))?;
                        if ofs > src.len() || ofs + len > src.len() {
                            return Err(format!("ref out of image {src_id}"));
                        }
                        for k in 0..len {
                            if alpha {
                                out[op + k][3] = src[ofs + k][3];
                            } else {
                                out[op + k] = src[ofs + k];
                            }
                        }
                    }
                    op += len;
                } else {
                    let count = ctrl + 1;
                    if op + count > n {
                        return Err(format!("literals overrun at {op}"));
                    }
                    for px in &mut out[op..op + count] {
                        if alpha {
                            px[3] = byte(pos)? as u8;
                        } else {
                            *px = [byte(pos)? as u8, byte(pos)? as u8, byte(pos)? as u8, 0];
                        }
                    }
                    op += count;
                }
            }
            Ok(())
        }

        /// Decodes one image; returns B,G,R,pad rows.
        fn decode(&mut self, s: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
            let be32 = |k: usize| -> Result<u32, String> {
                let b = s.get(k..k + 4).ok_or("short header")?;
                Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            };
            if be32(0)? != lz::MAGIC || be32(4)? != lz::VERSION {
                return Err("bad magic".into());
            }
            let kind = u32::from(*s.get(8).ok_or("short")?);
            if kind & 0x10 == 0 {
                return Err("not top-down".into());
            }
            let alpha = match kind & 0x0F {
                8 => false,
                9 => true,
                k => return Err(format!("type {k}")),
            };
            let (width, height, stride) = (be32(9)?, be32(13)?, be32(17)?);
            if stride != width * 4 {
                return Err("stride".into());
            }
            let id = (u64::from(be32(21)?) << 32) | u64::from(be32(25)?);
            let head = u64::from(be32(29)?);
            if id != self.next_id {
                return Err(format!("id {id}, expected {}", self.next_id));
            }
            if head > id {
                return Err("win_head_dist beyond id 0".into());
            }
            let n = width as usize * height as usize;
            let mut img = vec![[0u8; 4]; n];
            let mut pos = 33;
            self.pass(s, &mut pos, &mut img, id, false)?;
            if alpha {
                self.pass(s, &mut pos, &mut img, id, true)?;
            }
            if pos != s.len() {
                return Err("trailing bytes".into());
            }
            let flat = img.concat();
            self.images.insert(id, img);
            self.next_id += 1;
            let oldest = id - head;
            self.images.retain(|&k, _| k >= oldest);
            let held: u64 = self.images.values().map(|v| v.len() as u64).sum();
            if n as u64 <= self.window_pixels && held > self.window_pixels {
                return Err(format!(
                    "client holds {held} pixels, window {}",
                    self.window_pixels
                ));
            }
            Ok((width, height, flat))
        }
    }

    /// Runs a sequence of images through encoder and client.
    fn run(window: u32, frames: &[(u32, u32, Vec<u8>, bool)]) -> usize {
        let mut enc = GlzEncoder::new(window);
        let mut client = Client::new(window);
        let mut total = 0;
        for (k, (w, h, data, alpha)) in frames.iter().enumerate() {
            let img = Pixels {
                width: *w,
                height: *h,
                data,
                alpha: *alpha,
            };
            let stream = enc.encode(&img).expect("encode");
            total += stream.len();
            let (dw, dh, mut out) = client
                .decode(&stream)
                .unwrap_or_else(|e| panic!("frame {k}: {e}"));
            if !*alpha {
                // The pad byte of an RGB32 image is whatever a reference
                // copied; nobody reads it.
                for px in out.chunks_exact_mut(4) {
                    px[3] = 0;
                }
            }
            assert_eq!((dw, dh), (*w, *h));
            assert!(out == expected(data, *alpha), "frame {k}: pixels differ");
        }
        total
    }

    /// A frame of `rows` text-like rows, scrolled by `shift` rows.
    fn scrolled(w: u32, h: u32, seed: u64, shift: u32) -> Vec<u8> {
        let tall = screen_like(w, h * 4, seed, false);
        let row = w as usize * 4;
        let start = (shift % (h * 3)) as usize * row;
        tall[start..start + h as usize * row].to_vec()
    }

    #[test]
    fn scrolling_uses_the_window() {
        let (w, h) = (200, 100);
        let frames: Vec<_> = (0..30)
            .map(|k| (w, h, scrolled(w, h, 9, k * 3), false))
            .collect();
        let total = run(w * h * 4, &frames);
        let alone: usize = frames
            .iter()
            .map(|(w, h, d, a)| {
                lz::encode(&Pixels {
                    width: *w,
                    height: *h,
                    data: d,
                    alpha: *a,
                })
                .expect("lz")
                .len()
            })
            .sum();
        assert!(total * 5 < alone, "glz {total} vs lz {alone}");
    }

    #[test]
    fn a_short_newest_match_leaves_room_for_the_older_entry() {
        // One row of distinct pixels with three pieces that start alike:
        // `full` twice and `short` (its first three pixels) in between.
        // The second `full` finds the first through the bucket's older
        // entry, so putting `short` between them costs nothing more than
        // putting it after.
        let noise = |k: u32| k.wrapping_mul(0x9E37_79B1) >> 8;
        let full: Vec<u32> = (1..=6).map(|k| 0x00AB_0000 | k).collect();
        let short = [full[0], full[1], full[2], 0x00CD_0000];
        let row = |order: [&[u32]; 3]| -> Vec<u8> {
            let mut px = Vec::new();
            for (k, piece) in order.iter().enumerate() {
                px.extend((0..40).map(|j| noise(100 * k as u32 + j)));
                px.extend_from_slice(piece);
            }
            px.iter().flat_map(|p| p.to_le_bytes()).collect()
        };
        let width = |d: &Vec<u8>| d.len() as u32 / 4;
        let between = row([&full, &short, &full]);
        let after = row([&full, &full, &short]);
        let size = |d: Vec<u8>| run(1 << 20, &[(width(&d), 1, d, false)]);
        assert!(size(between) <= size(after));
    }

    #[test]
    fn long_sequences_stay_in_the_window() {
        // 100 images through a window of about 3 of them, with sizes that
        // sometimes exceed it, alpha now and then, and repeated content.
        let mut frames = Vec::new();
        for k in 0..100u32 {
            let (w, h) = match k % 7 {
                0 => (61, 47),
                3 => (130, 90),
                5 => (1, 1),
                _ => (64, 48),
            };
            let data = if k % 4 == 0 {
                screen_like(w, h, u64::from(k), k % 8 == 0)
            } else {
                scrolled(w, h, 3, k)
            };
            frames.push((w, h, data, k % 8 == 0));
        }
        run(64 * 48 * 3 + 10, &frames);
        run(64 * 48, &frames);
        run(1, &frames);
        run(0, &frames);
    }

    #[test]
    fn ids_are_consecutive_and_offsets_long() {
        // Big images force long pixel offsets (beyond 2^17).
        let (w, h) = (700, 300);
        let frames: Vec<_> = (0..4)
            .map(|k| (w, h, scrolled(w, h, 5, k * 50), false))
            .collect();
        run(w * h * 3, &frames);
    }

    #[test]
    fn shared_images_code_like_copies_and_are_let_go() {
        // Scrolled frames with noisy pad bytes, which matching ignores; a
        // window of about two frames, so the oldest are evicted.
        let (w, h) = (90u32, 40u32);
        let frames: Vec<Vec<u8>> = (0..8)
            .map(|k| {
                let mut data = scrolled(w, h, 4, k * 5);
                let pads = crate::codec::test_noise(k + 1, data.len() / 4);
                for (px, pad) in data.chunks_exact_mut(4).zip(pads) {
                    px[3] = pad;
                }
                data
            })
            .collect();
        let window = w * h * 2 + 7;
        let mut copying = GlzEncoder::new(window);
        let mut sharing = GlzEncoder::new(window);
        let mut client = Client::new(window);
        let mut handles = Vec::new();
        for (k, data) in frames.iter().enumerate() {
            let img = Pixels {
                width: w,
                height: h,
                data,
                alpha: false,
            };
            let copied = copying.encode(&img).expect("encode");
            let shared = Arc::new(data.clone());
            let stream = sharing
                .encode_shared(Arc::clone(&shared), w, h, false)
                .expect("encode_shared");
            assert!(stream == copied, "frame {k}: streams differ");
            let (_, _, mut out) = client
                .decode(&stream)
                .unwrap_or_else(|e| panic!("frame {k}: {e}"));
            for px in out.chunks_exact_mut(4) {
                px[3] = 0;
            }
            assert!(out == expected(data, false), "frame {k}: pixels differ");
            handles.push(shared);
        }
        // The window holds the last two images and has let go of the rest.
        let held: Vec<usize> = handles.iter().map(Arc::strong_count).collect();
        assert_eq!(held, [1, 1, 1, 1, 1, 1, 2, 2]);
        assert!(sharing
            .encode_shared(Arc::new(vec![0; 12]), 2, 2, false)
            .is_err());
    }

    #[test]
    fn far_image_distances() {
        // Image k repeats image k - 260 except for one pixel past index
        // 4096, so matches reach 260 images back with long pixel offsets.
        let (w, h) = (70u32, 60u32);
        let frames: Vec<_> = (0..300u32)
            .map(|k| {
                let mut data = screen_like(w, h, u64::from(k % 260) + 1, false);
                data[4100 * 4..4100 * 4 + 4].copy_from_slice(&[k as u8, (k >> 8) as u8, 1, 0]);
                (w, h, data, false)
            })
            .collect();
        let window = w * h * 300;
        let last_40 = run(window, &frames) - run(window, &frames[..260]);
        assert!(last_40 < 40 * 100, "{last_40} bytes for the last 40 images");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn random_sequences_round_trip(
            window in 0u32..6000,
            specs in proptest::collection::vec((1u32..70, 1u32..50, any::<u64>(), 0u32..4, any::<bool>()), 1..40),
        ) {
            let frames: Vec<_> = specs
                .iter()
                .map(|&(w, h, seed, kind, alpha)| {
                    let data = match kind {
                        0 => screen_like(w, h, seed, alpha),
                        1 => vec![(seed & 0xFF) as u8; (w * h * 4) as usize],
                        _ => scrolled(w, h, seed % 3, (seed >> 8) as u32 % 40),
                    };
                    (w, h, data, alpha && kind == 0)
                })
                .collect();
            run(window, &frames);
        }
    }
}
