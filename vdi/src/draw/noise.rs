//! Seeded value noise for the procedural photo. Computed once at start-up,
//! so floats are fine here.

/// A well-mixed hash of a lattice point.
fn hash(x: i32, y: i32, seed: u32) -> u32 {
    let mut h = (x as u32).wrapping_mul(0x27d4_eb2d)
        ^ (y as u32).wrapping_mul(0x1656_67b1)
        ^ seed.wrapping_mul(0x9e37_79b9);
    h ^= h >> 15;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn lattice(x: i32, y: i32, seed: u32) -> f32 {
    (hash(x, y, seed) >> 8) as f32 / (1u32 << 24) as f32
}

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Smooth noise in `0.0..1.0` over the plane.
pub(crate) fn value2(x: f32, y: f32, seed: u32) -> f32 {
    let (fx, fy) = (x.floor(), y.floor());
    let (ix, iy) = (fx as i32, fy as i32);
    let (tx, ty) = (smooth(x - fx), smooth(y - fy));
    let a = lattice(ix, iy, seed);
    let b = lattice(ix + 1, iy, seed);
    let c = lattice(ix, iy + 1, seed);
    let d = lattice(ix + 1, iy + 1, seed);
    let top = a + (b - a) * tx;
    let bottom = c + (d - c) * tx;
    top + (bottom - top) * ty
}

/// Fractal sum of `octaves` layers of [`value2`], normalised to `0.0..1.0`.
pub(crate) fn fbm2(x: f32, y: f32, seed: u32, octaves: u32) -> f32 {
    let (mut sum, mut amp, mut freq, mut norm) = (0.0, 1.0, 1.0, 0.0);
    for octave in 0..octaves {
        sum += amp * value2(x * freq, y * freq, seed.wrapping_add(octave));
        norm += amp;
        amp *= 0.5;
        freq *= 2.03;
    }
    sum / norm
}

/// One-dimensional fractal noise, for ridge lines.
pub(crate) fn fbm1(x: f32, seed: u32, octaves: u32) -> f32 {
    fbm2(x, 0.5, seed, octaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_bounded_and_seeded() {
        for i in 0..500 {
            let x = i as f32 * 0.37;
            let v = fbm2(x, x * 0.5, 3, 5);
            assert!((0.0..=1.0).contains(&v));
        }
        assert_ne!(value2(1.5, 2.5, 1), value2(1.5, 2.5, 2));
        assert_eq!(value2(1.5, 2.5, 1), value2(1.5, 2.5, 1));
    }
}
