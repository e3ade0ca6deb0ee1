//! Colours as `0x00RRGGBB` words, which are B,G,R,X bytes in little-endian
//! memory order, and the integer blending the hot paths use.

/// Packs 8-bit channels.
pub(crate) const fn rgb(r: u8, g: u8, b: u8) -> u32 {
    ((r as u32) << 16) | ((g as u32) << 8) | b as u32
}

/// Red channel.
pub(crate) const fn red(c: u32) -> u32 {
    (c >> 16) & 0xff
}

/// Green channel.
pub(crate) const fn green(c: u32) -> u32 {
    (c >> 8) & 0xff
}

/// Blue channel.
pub(crate) const fn blue(c: u32) -> u32 {
    c & 0xff
}

/// `x / 255` rounded, exact for every `x <= 255 * 255`, without a division.
const fn div255(x: u32) -> u32 {
    (x + 128 + ((x + 128) >> 8)) >> 8
}

/// `top` over `bottom` with coverage `alpha` (0 = bottom only).
pub(crate) const fn blend(bottom: u32, top: u32, alpha: u32) -> u32 {
    let inv = 255 - alpha;
    let r = div255(red(top) * alpha + red(bottom) * inv);
    let g = div255(green(top) * alpha + green(bottom) * inv);
    let b = div255(blue(top) * alpha + blue(bottom) * inv);
    (r << 16) | (g << 8) | b
}

/// Linear interpolation for colours computed once (photo, palettes).
pub(crate) fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0);
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// Packs float channels in 0..=255, clamping.
pub(crate) fn pack(c: [f32; 3]) -> u32 {
    let ch = |v: f32| v.clamp(0.0, 255.0) as u8;
    rgb(ch(c[0]), ch(c[1]), ch(c[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn div255_is_exact() {
        for x in 0..=255 * 255 {
            assert_eq!(div255(x), (x + 127) / 255, "{x}");
        }
    }

    #[test]
    fn blend_endpoints() {
        let a = rgb(10, 20, 30);
        let b = rgb(200, 100, 0);
        assert_eq!(blend(a, b, 0), a);
        assert_eq!(blend(a, b, 255), b);
    }
}
