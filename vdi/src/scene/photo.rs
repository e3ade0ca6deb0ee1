//! A photo-like landscape (sky, sun, clouds, hazy ridges, pines, meadow)
//! made from seeded value noise. Rendered once into the static base, so it
//! may use floats freely.

use crate::draw::canvas::Canvas;
use crate::draw::color::{mix, pack};
use crate::draw::geom::inset;
use crate::draw::noise::{fbm1, fbm2, value2};
use crate::draw::rng::Rng;
use spicebox_shm::Rect;

/// The light of one time of day.
struct Palette {
    zenith: [f32; 3],
    horizon: [f32; 3],
    sun: [f32; 3],
    haze: [f32; 3],
    far: [f32; 3],
    near: [f32; 3],
    grass: [f32; 3],
}

const PALETTES: [Palette; 3] = [
    // Clear midday.
    Palette {
        zenith: [52.0, 104.0, 188.0],
        horizon: [186.0, 214.0, 236.0],
        sun: [255.0, 250.0, 228.0],
        haze: [170.0, 196.0, 222.0],
        far: [92.0, 118.0, 160.0],
        near: [46.0, 98.0, 60.0],
        grass: [92.0, 150.0, 64.0],
    },
    // Golden hour.
    Palette {
        zenith: [70.0, 92.0, 160.0],
        horizon: [250.0, 196.0, 140.0],
        sun: [255.0, 236.0, 180.0],
        haze: [232.0, 176.0, 142.0],
        far: [128.0, 96.0, 128.0],
        near: [60.0, 70.0, 48.0],
        grass: [150.0, 140.0, 60.0],
    },
    // Dusk.
    Palette {
        zenith: [30.0, 32.0, 82.0],
        horizon: [236.0, 128.0, 108.0],
        sun: [255.0, 210.0, 160.0],
        haze: [180.0, 110.0, 120.0],
        far: [84.0, 62.0, 104.0],
        near: [36.0, 36.0, 52.0],
        grass: [70.0, 70.0, 60.0],
    },
];

/// Ridge layers, far to near.
const RIDGES: usize = 4;

struct Tree {
    u: f32,
    half_width: f32,
    height: f32,
}

/// Scene parameters drawn from the seed.
struct Landscape {
    palette: &'static Palette,
    noise_seed: u32,
    sun: (f32, f32),
    horizon: f32,
    ridge_offset: [f32; RIDGES],
    trees: Vec<Tree>,
}

impl Landscape {
    fn new(seed: u64) -> Landscape {
        let mut rng = Rng::new(seed, 0x9407);
        let palette = rng.pick(&PALETTES).unwrap_or(&PALETTES[0]);
        let noise_seed = rng.next_u64() as u32;
        let sun = (0.15 + 0.7 * rng.unit(), 0.12 + 0.22 * rng.unit());
        let horizon = 0.50 + 0.08 * rng.unit();
        let mut ridge_offset = [0.0; RIDGES];
        for o in &mut ridge_offset {
            *o = rng.unit() * 100.0;
        }
        let trees = (0..rng.range(6, 14))
            .map(|_| Tree {
                u: rng.unit(),
                half_width: 0.012 + 0.012 * rng.unit(),
                height: 0.07 + 0.08 * rng.unit(),
            })
            .collect();
        Landscape {
            palette,
            noise_seed,
            sun,
            horizon,
            ridge_offset,
            trees,
        }
    }

    /// Top of ridge `layer` at column `u`, as a fraction of the height.
    fn ridge(&self, layer: usize, u: f32) -> f32 {
        let l = layer as f32;
        let base = self.horizon - 0.10 + l * 0.11;
        let amplitude = 0.20 - l * 0.035;
        let frequency = 2.0 + l * 1.3;
        let n = fbm1(
            u * frequency + self.ridge_offset[layer],
            self.noise_seed + layer as u32,
            5,
        );
        base - amplitude * (n - 0.35) * 2.0
    }

    fn sky(&self, u: f32, v: f32, aspect: f32) -> [f32; 3] {
        let p = self.palette;
        let t = (v / self.horizon).clamp(0.0, 1.0);
        let mut c = mix(p.zenith, p.horizon, t * t);
        let dx = (u - self.sun.0) * aspect;
        let dy = v - self.sun.1;
        let d = (dx * dx + dy * dy).sqrt();
        let glow = 1.0 / (1.0 + (d * 9.0) * (d * 9.0));
        c = mix(c, p.sun, glow * 0.8);
        if d < 0.035 {
            c = mix(c, p.sun, ((0.035 - d) / 0.006).min(1.0));
        }
        let cloud = fbm2(u * 3.0 * aspect, v * 9.0, self.noise_seed ^ 0xc10d, 5);
        let cover = ((cloud - 0.52) / 0.2).clamp(0.0, 1.0) * (1.0 - t * 0.8);
        let lit = mix(p.horizon, [255.0, 255.0, 255.0], 0.6);
        mix(c, mix(lit, p.sun, glow), cover * 0.85)
    }

    fn ground(&self, layer: usize, u: f32, v: f32, top: f32) -> [f32; 3] {
        let p = self.palette;
        let depth = layer as f32 / (RIDGES - 1) as f32;
        let body = mix(p.far, p.near, depth);
        // Distant ridges fade into the haze; every ridge darkens downwards.
        let shade = ((v - top) * 4.0).clamp(0.0, 1.0);
        let mut c = mix(
            body,
            [body[0] * 0.6, body[1] * 0.6, body[2] * 0.6],
            shade * 0.5,
        );
        c = mix(c, p.haze, (1.0 - depth) * 0.55);
        // Texture gets stronger as ridges come closer.
        let grain = value2(u * 180.0, v * 120.0, self.noise_seed ^ layer as u32) - 0.5;
        let k = 1.0 + grain * 0.25 * depth;
        [c[0] * k, c[1] * k, c[2] * k]
    }

    fn meadow(&self, u: f32, v: f32, top: f32) -> [f32; 3] {
        let p = self.palette;
        let blades = fbm2(u * 90.0, v * 25.0, self.noise_seed ^ 0x6a55, 4);
        let light = (1.0 - (v - top) * 1.5).clamp(0.4, 1.0);
        let c = mix(p.near, p.grass, blades * light);
        mix(c, p.haze, 0.08)
    }

    fn pixel(&self, u: f32, v: f32, aspect: f32, ridges: &[f32; RIDGES]) -> [f32; 3] {
        let meadow_top = self.horizon + 0.30;
        let meadow_line = meadow_top - 0.04 * (fbm1(u * 3.0, self.noise_seed ^ 0x3ead, 3) - 0.5);
        if v >= meadow_line {
            return self.meadow(u, v, meadow_line);
        }
        let tree_line = ridges[RIDGES - 1];
        for tree in &self.trees {
            let top = tree_line - tree.height;
            let width = tree.half_width * (v - top) / tree.height;
            if v > top && v < tree_line + 0.02 && (u - tree.u).abs() * aspect < width {
                return mix(self.palette.near, [10.0, 24.0, 16.0], 0.6);
            }
        }
        for layer in (0..RIDGES).rev() {
            if v >= ridges[layer] {
                return self.ground(layer, u, v, ridges[layer]);
            }
        }
        self.sky(u, v, aspect)
    }
}

/// Renders the landscape inside `area`, framed like a print.
pub(crate) fn draw(canvas: &mut Canvas<'_>, area: &Rect, seed: u64, border: u32) {
    canvas.fill(area, 0xeeece6);
    let inner = inset(area, border);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let land = Landscape::new(seed);
    let (w, h) = (inner.width as f32, inner.height as f32);
    let aspect = w / h;
    for x in 0..inner.width {
        let u = (x as f32 + 0.5) / w;
        let mut ridges = [0.0; RIDGES];
        for (layer, r) in ridges.iter_mut().enumerate() {
            *r = land.ridge(layer, u);
        }
        for y in 0..inner.height {
            let v = (y as f32 + 0.5) / h;
            let mut c = land.pixel(u, v, aspect, &ridges);
            // A gentle lens vignette.
            let (cx, cy) = (u - 0.5, v - 0.5);
            let k = 1.0 - 0.35 * (cx * cx + cy * cy);
            c = [c[0] * k, c[1] * k, c[2] * k];
            canvas.set(inner.x + x, inner.y + y, pack(c));
        }
    }
}
