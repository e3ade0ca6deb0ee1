//! A B,G,R,X canvas, flat shapes, gradients and bitmap-font text
//! (font8x8 glyphs scaled to several cell sizes), plus a seeded RNG.

use font8x8::legacy::BASIC_LEGACY;

/// 0xRRGGBB.
pub type Rgb = u32;

/// Splitmix64: small, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Roughly normal, mean 0, standard deviation about 1.
    pub fn gauss(&mut self) -> f32 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
}

/// Packed, top-down B,G,R,X rows with X = 0.
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

pub fn rgb(r: u8, g: u8, b: u8) -> Rgb {
    (u32::from(r) << 16) | (u32::from(g) << 8) | u32::from(b)
}

/// Linear mix of two colours, `t` in [0, 1].
pub fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    let ch = |c: Rgb, s: u32| ((c >> s) & 0xFF) as f32;
    let m = |s: u32| {
        (ch(a, s) + (ch(b, s) - ch(a, s)) * t)
            .round()
            .clamp(0.0, 255.0) as u32
    };
    (m(16) << 16) | (m(8) << 8) | m(0)
}

impl Canvas {
    pub fn new(width: u32, height: u32, fill: Rgb) -> Self {
        let mut c = Canvas {
            width,
            height,
            data: vec![0; width as usize * height as usize * 4],
        };
        c.rect(0, 0, width as i32, height as i32, fill);
        c
    }

    pub fn put(&mut self, x: i32, y: i32, c: Rgb) {
        if x < 0 || y < 0 || x >= self.width as i32 || y >= self.height as i32 {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        self.data[i..i + 4].copy_from_slice(&[c as u8, (c >> 8) as u8, (c >> 16) as u8, 0]);
    }

    /// Filled rectangle, clipped.
    pub fn rect(&mut self, x: i32, y: i32, w: i32, h: i32, c: Rgb) {
        let x0 = x.clamp(0, self.width as i32) as usize;
        let x1 = (x + w).clamp(0, self.width as i32) as usize;
        let y0 = y.clamp(0, self.height as i32) as usize;
        let y1 = (y + h).clamp(0, self.height as i32) as usize;
        let px = [c as u8, (c >> 8) as u8, (c >> 16) as u8, 0];
        let stride = self.width as usize * 4;
        for row in y0..y1 {
            for p in self.data[row * stride + x0 * 4..row * stride + x1 * 4].chunks_exact_mut(4) {
                p.copy_from_slice(&px);
            }
        }
    }

    /// One-pixel outline.
    pub fn frame(&mut self, x: i32, y: i32, w: i32, h: i32, c: Rgb) {
        self.rect(x, y, w, 1, c);
        self.rect(x, y + h - 1, w, 1, c);
        self.rect(x, y, 1, h, c);
        self.rect(x + w - 1, y, 1, h, c);
    }

    /// Vertical gradient from `top` to `bottom`.
    pub fn vgradient(&mut self, x: i32, y: i32, w: i32, h: i32, top: Rgb, bottom: Rgb) {
        for row in 0..h {
            let t = row as f32 / (h - 1).max(1) as f32;
            self.rect(x, y + row, w, 1, mix(top, bottom, t));
        }
    }

    /// Filled disc.
    pub fn disc(&mut self, cx: i32, cy: i32, r: i32, c: Rgb) {
        for dy in -r..=r {
            let half = ((r * r - dy * dy) as f32).sqrt() as i32;
            self.rect(cx - half, cy + dy, 2 * half + 1, 1, c);
        }
    }

    /// Straight line, one pixel wide.
    pub fn line(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, c: Rgb) {
        let n = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for i in 0..=n {
            let x = x0 + (x1 - x0) * i / n;
            let y = y0 + (y1 - y0) * i / n;
            self.put(x, y, c);
        }
    }

    /// Copies `src` with its top-left corner at (x, y), clipped.
    pub fn blit(&mut self, src: &Canvas, x: i32, y: i32) {
        for sy in 0..src.height as i32 {
            let dy = y + sy;
            if dy < 0 || dy >= self.height as i32 {
                continue;
            }
            let sx0 = (-x).max(0);
            let sx1 = (self.width as i32 - x).min(src.width as i32);
            if sx0 >= sx1 {
                continue;
            }
            let s = (sy as usize * src.width as usize + sx0 as usize) * 4;
            let d = (dy as usize * self.width as usize + (x + sx0) as usize) * 4;
            let n = (sx1 - sx0) as usize * 4;
            self.data[d..d + n].copy_from_slice(&src.data[s..s + n]);
        }
    }
}

/// How text is set: glyph scale, cell size, colours.
#[derive(Clone, Copy)]
pub struct Font {
    pub sx: i32,
    pub sy: i32,
    pub cell_w: i32,
    pub cell_h: i32,
    pub bold: bool,
}

impl Font {
    /// 8x8 glyphs in `cell_w`×`cell_h` cells, glyph scaled by (sx, sy).
    pub const fn new(sx: i32, sy: i32, cell_w: i32, cell_h: i32) -> Self {
        Font {
            sx,
            sy,
            cell_w,
            cell_h,
            bold: false,
        }
    }

    pub const fn bold(self) -> Self {
        Font { bold: true, ..self }
    }
}

impl Canvas {
    /// Draws `s` from (x, y) (top of the cell) in `fg` on an optional cell
    /// background; returns the x after the text.
    pub fn text(&mut self, x: i32, y: i32, s: &str, font: Font, fg: Rgb, bg: Option<Rgb>) -> i32 {
        let mut cx = x;
        let top = y + (font.cell_h - 8 * font.sy) / 2;
        for ch in s.chars() {
            if let Some(b) = bg {
                self.rect(cx, y, font.cell_w, font.cell_h, b);
            }
            let glyph = BASIC_LEGACY[(ch as usize).min(127)];
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    if bits & (1 << gx) != 0 {
                        let px = cx + gx * font.sx;
                        let py = top + gy as i32 * font.sy;
                        let w = font.sx + i32::from(font.bold);
                        self.rect(px, py, w, font.sy, fg);
                    }
                }
            }
            cx += font.cell_w;
        }
        cx
    }
}

/// Words for filler text: common English and shell vocabulary.
pub const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "on",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "file",
    "files",
    "directory",
    "option",
    "display",
    "list",
    "information",
    "about",
    "default",
    "current",
    "sort",
    "entries",
    "alphabetically",
    "if",
    "none",
    "specified",
    "print",
    "size",
    "when",
    "used",
    "with",
    "long",
    "format",
    "output",
    "mode",
    "time",
    "user",
    "group",
    "system",
    "server",
    "client",
    "channel",
    "image",
    "stream",
    "buffer",
    "window",
    "screen",
    "memory",
    "value",
    "each",
    "all",
    "not",
    "which",
    "can",
    "will",
    "may",
    "also",
    "more",
    "than",
    "other",
    "only",
    "new",
    "first",
    "number",
    "data",
    "process",
    "kernel",
    "network",
    "device",
    "driver",
    "module",
    "version",
    "config",
    "error",
    "warning",
    "returns",
    "called",
    "argument",
    "pointer",
    "table",
    "index",
    "block",
    "page",
];

/// A sentence-like run of words `min + below(spread)` characters long.
pub fn words(rng: &mut Rng, min: usize, spread: usize) -> String {
    let len = min + if spread > 0 { rng.below(spread) } else { 0 };
    let mut s = String::new();
    while s.len() < len {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(rng.pick::<&str>(WORDS));
        if rng.below(12) == 0 {
            s.push(',');
        }
    }
    s.truncate(len);
    s
}
