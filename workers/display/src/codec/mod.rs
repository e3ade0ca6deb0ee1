//! Image encoders producing streams that spice-gtk (spice-common's
//! decoders) accepts. Every encoder takes packed, top-down B,G,R,X (or
//! B,G,R,A) rows and returns the image payload for the draw message.

mod bgrx;
pub mod glz;
pub mod jpeg;
pub mod lz;
pub mod quic;
pub mod zlib;

/// A rectangle of pixels to encode: `height` rows of `width × 4` bytes,
/// top row first, B,G,R,X (or B,G,R,A when `alpha`).
#[derive(Clone, Copy, Debug)]
pub struct Pixels<'a> {
    pub width: u32,
    pub height: u32,
    pub data: &'a [u8],
    /// The fourth byte is meaningful alpha (else it is padding).
    pub alpha: bool,
}

/// Why an encoder could not produce an image; the caller sends a bitmap.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("image of {width}x{height} is not supported by {codec}")]
    Unsupported {
        codec: &'static str,
        width: u32,
        height: u32,
    },
    #[error("pixel buffer of {have} bytes does not hold {width}x{height} pixels")]
    BadBuffer {
        width: u32,
        height: u32,
        have: usize,
    },
    /// A library codec refused input we had checked; its message is kept
    /// as text because its error types are not comparable.
    #[error("{codec} failed: {reason}")]
    Library { codec: &'static str, reason: String },
}

impl Pixels<'_> {
    /// Checks that the buffer holds exactly `width × height` pixels.
    pub fn check(&self) -> Result<(), CodecError> {
        let need = (self.width as usize)
            .checked_mul(self.height as usize)
            .and_then(|p| p.checked_mul(4));
        if need != Some(self.data.len()) || self.width == 0 || self.height == 0 {
            return Err(CodecError::BadBuffer {
                width: self.width,
                height: self.height,
                have: self.data.len(),
            });
        }
        Ok(())
    }
}

/// Deterministic incompressible bytes for tests (xorshift32 from `seed`).
#[cfg(test)]
pub(crate) fn test_noise(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
