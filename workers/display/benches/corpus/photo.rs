//! Procedural "photographs": layered value noise (fractal terrain), lit by
//! its slopes, coloured by height and moisture, with fine texture and
//! sensor noise so no two neighbouring pixels are alike. Even seeds give an
//! aerial view of terrain, odd seeds a landscape (sky, clouds, mountain
//! ridges, meadow).

use super::draw::{mix, rgb, Canvas, Rgb, Rng};

fn hash(x: i32, y: i32, seed: u32) -> f32 {
    let mut h = (x as u32).wrapping_mul(0x8DA6_B343)
        ^ (y as u32).wrapping_mul(0xD816_3841)
        ^ seed.wrapping_mul(0xCB1A_B31F);
    h ^= h >> 13;
    h = h.wrapping_mul(0x5BD1_E995);
    h ^= h >> 15;
    (h & 0x00FF_FFFF) as f32 / 16_777_216.0
}

/// Smoothly interpolated lattice noise in [0, 1).
pub fn value(x: f32, y: f32, seed: u32) -> f32 {
    let (xf, yf) = (x.floor(), y.floor());
    let (xi, yi) = (xf as i32, yf as i32);
    let (tx, ty) = (x - xf, y - yf);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let a = hash(xi, yi, seed);
    let b = hash(xi + 1, yi, seed);
    let c = hash(xi, yi + 1, seed);
    let d = hash(xi + 1, yi + 1, seed);
    let top = a + (b - a) * sx;
    let bottom = c + (d - c) * sx;
    top + (bottom - top) * sy
}

/// Fractal sum of `octaves` layers, normalised to about [0, 1].
pub fn fbm(x: f32, y: f32, octaves: u32, seed: u32) -> f32 {
    let (mut sum, mut amp, mut freq, mut norm) = (0.0, 1.0, 1.0, 0.0);
    for o in 0..octaves {
        sum += amp * value(x * freq, y * freq, seed.wrapping_add(o * 7919));
        norm += amp;
        amp *= 0.5;
        freq *= 2.03;
    }
    sum / norm
}

fn scale(c: Rgb, k: f32) -> Rgb {
    let ch = |s: u32| ((((c >> s) & 0xFF) as f32 * k).round().clamp(0.0, 255.0)) as u32;
    (ch(16) << 16) | (ch(8) << 8) | ch(0)
}

/// Adds luminance noise of deviation `luma` and chroma noise of `chroma`.
fn grain(c: Rgb, rng: &mut Rng, luma: f32, chroma: f32) -> Rgb {
    let l = rng.gauss() * luma;
    let mut ch = |s: u32| {
        let v = ((c >> s) & 0xFF) as f32 + l + rng.gauss() * chroma;
        v.round().clamp(0.0, 255.0) as u32
    };
    let (r, g, b) = (ch(16), ch(8), ch(0));
    (r << 16) | (g << 8) | b
}

/// A `width`×`height` photograph; features keep their size whatever the
/// resolution (`zoom` > 1 shows a smaller area, as a crop would).
pub fn photo(width: u32, height: u32, seed: u32, zoom: f32) -> Canvas {
    if seed & 1 == 0 {
        aerial(width, height, seed, zoom)
    } else {
        landscape(width, height, seed, zoom)
    }
}

fn aerial(width: u32, height: u32, seed: u32, zoom: f32) -> Canvas {
    let (w, h) = (width as usize, height as usize);
    let unit = 1.0 / (480.0 * zoom);
    let mut height_map = vec![0f32; (w + 1) * (h + 1)];
    for y in 0..=h {
        for x in 0..=w {
            let (fx, fy) = (x as f32 * unit, y as f32 * unit);
            // Domain warp for less grid-like shapes.
            let wx = fx + 0.35 * value(fx * 1.7, fy * 1.7, seed ^ 0xA5);
            let wy = fy + 0.35 * value(fx * 1.7 + 5.2, fy * 1.7, seed ^ 0x5A);
            height_map[y * (w + 1) + x] = fbm(wx, wy, 9, seed);
        }
    }
    let light = [-0.55f32, -0.45, 0.70];
    let mut rng = Rng::new(u64::from(seed) * 31 + 7);
    let mut c = Canvas::new(width, height, 0);
    for y in 0..h {
        for x in 0..w {
            let e = height_map[y * (w + 1) + x];
            let dx = height_map[y * (w + 1) + x + 1] - e;
            let dy = height_map[(y + 1) * (w + 1) + x] - e;
            let k = 180.0 * zoom;
            let n = [-dx * k, -dy * k, 1.0];
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            let lambert = ((n[0] * light[0] + n[1] * light[1] + n[2] * light[2]) / len).max(0.0);
            let (fx, fy) = (x as f32 * unit, y as f32 * unit);
            let moist = value(fx * 3.0, fy * 3.0, seed ^ 0x77);
            let base = if e < 0.44 {
                let depth = ((0.44 - e) / 0.12).min(1.0);
                mix(rgb(70, 140, 150), rgb(18, 52, 90), depth)
            } else if e < 0.46 {
                rgb(196, 184, 140)
            } else if e < 0.60 {
                mix(rgb(112, 142, 62), rgb(38, 82, 40), moist)
            } else if e < 0.68 {
                mix(rgb(96, 104, 70), rgb(120, 108, 92), (e - 0.60) / 0.08)
            } else {
                mix(
                    rgb(132, 124, 118),
                    rgb(236, 238, 242),
                    ((e - 0.68) / 0.05).min(1.0),
                )
            };
            let shade = if e < 0.44 { 0.9 } else { 0.35 + 0.8 * lambert };
            let detail = 0.92 + 0.16 * value(x as f32 * 0.45, y as f32 * 0.45, seed ^ 0x33);
            let px = grain(scale(base, shade * detail), &mut rng, 0.9, 0.35);
            c.put(x as i32, y as i32, px);
        }
    }
    c
}

fn landscape(width: u32, height: u32, seed: u32, zoom: f32) -> Canvas {
    let (w, h) = (width as i32, height as i32);
    let unit = 1.0 / (480.0 * zoom);
    let horizon = h as f32 * 0.55;
    let px_h = h as f32;
    let sky_top = rgb(38, 84, 160);
    let sky_low = rgb(196, 214, 230);
    // Mountain ridges, far to near: (base height, amplitude, colour).
    let ridges = [
        (0.36, 0.16, rgb(126, 142, 170)),
        (0.44, 0.13, rgb(86, 104, 112)),
        (0.52, 0.09, rgb(58, 78, 60)),
    ];
    let mut rng = Rng::new(u64::from(seed) * 17 + 3);
    let mut c = Canvas::new(width, height, 0);
    for x in 0..w {
        let fx = x as f32 * unit;
        let tops: Vec<f32> = ridges
            .iter()
            .enumerate()
            .map(|(i, &(base, amp, _))| {
                let n = fbm(
                    fx * (1.0 + i as f32 * 0.7),
                    i as f32 * 3.1,
                    8,
                    seed + i as u32,
                );
                (base - amp * (n - 0.3) * 2.0) * px_h
            })
            .collect();
        for y in 0..h {
            let fy = y as f32 * unit;
            let yf = y as f32;
            let mut col = mix(sky_top, sky_low, (yf / horizon).min(1.0).powf(1.4));
            let cloud = fbm(fx * 1.3 + 11.0, fy * 3.0, 7, seed ^ 0xC1);
            if yf < horizon {
                let cover = ((cloud - 0.5) * 4.0).clamp(0.0, 1.0);
                let lit = mix(
                    rgb(250, 250, 252),
                    rgb(150, 156, 170),
                    (fy * 3.0).fract() * 0.2 + (1.0 - cloud) * 0.8,
                );
                col = mix(col, lit, cover);
            }
            for (i, &(_, _, rc)) in ridges.iter().enumerate() {
                if yf >= tops[i] {
                    let tex = fbm(fx * 4.0, fy * 4.0, 7, seed + 100 + i as u32);
                    let snow = i == 0 && yf - tops[i] < 25.0 * (tex + 0.2);
                    let base = if snow { rgb(232, 236, 240) } else { rc };
                    let depth = ((yf - tops[i]) / 200.0).min(1.0);
                    col = scale(base, 0.7 + 0.5 * tex - 0.15 * depth);
                }
            }
            if yf >= horizon + 40.0 {
                // Meadow, darker and more detailed towards the bottom.
                let near = (yf - horizon) / (h as f32 - horizon);
                let tex = fbm(fx * 6.0, fy * 14.0, 8, seed ^ 0x6E);
                let flowers = value(x as f32 * 0.3, y as f32 * 0.5, seed ^ 0xF1);
                let grass = mix(rgb(150, 168, 80), rgb(44, 92, 34), tex);
                let grass = if flowers > 0.93 {
                    mix(grass, rgb(230, 210, 80), near)
                } else {
                    grass
                };
                let fine = 0.85 + 0.3 * value(x as f32 * 0.7, y as f32 * 0.35, seed ^ 0x99);
                col = scale(grass, (0.75 + 0.35 * near) * fine);
            }
            c.put(x, y, grain(col, &mut rng, 0.9, 0.35));
        }
    }
    c
}

/// Samples `src` bilinearly: output pixel (x, y) comes from
/// (ox + x·step, oy + y·step).
pub fn resample(src: &Canvas, width: u32, height: u32, ox: f32, oy: f32, step: f32) -> Canvas {
    let mut c = Canvas::new(width, height, 0);
    let sw = src.width as usize;
    for y in 0..height {
        let fy = oy + y as f32 * step;
        let y0 = (fy.floor() as usize).min(src.height as usize - 2);
        let ty = fy - y0 as f32;
        for x in 0..width {
            let fx = ox + x as f32 * step;
            let x0 = (fx.floor() as usize).min(sw - 2);
            let tx = fx - x0 as f32;
            let i = (y0 * sw + x0) * 4;
            let j = i + sw * 4;
            let o = (y as usize * width as usize + x as usize) * 4;
            for ch in 0..3 {
                let p = |k: usize| f32::from(src.data[k + ch]);
                let top = p(i) + (p(i + 4) - p(i)) * tx;
                let bottom = p(j) + (p(j + 4) - p(j)) * tx;
                c.data[o + ch] = (top + (bottom - top) * ty).round() as u8;
            }
        }
    }
    c
}

/// Fine per-frame noise, as a camera adds.
pub fn add_grain(c: &mut Canvas, seed: u64, luma: f32) {
    let mut rng = Rng::new(seed);
    for p in c.data.chunks_exact_mut(4) {
        let l = rng.gauss() * luma;
        for v in &mut p[..3] {
            *v = (f32::from(*v) + l).round().clamp(0.0, 255.0) as u8;
        }
    }
}
