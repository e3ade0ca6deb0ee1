//! ZLIB_GLZ_RGB (type 107): a GLZ stream deflated once more, zlib format.
//!
//! GLZ codes literals as raw pixel bytes; deflate's Huffman stage shrinks
//! them further, which pays on slow links. spice-gtk inflates the payload
//! into `glz_data_size` bytes and decodes the result exactly as a GLZ_RGB
//! image, so the image enters the client's GLZ window the same way either
//! way: the encoder's dictionary needs nothing different.

use flate2::{Compress, Compression, FlushCompress, Status};

use super::CodecError;

/// The reference server's default zlib level: most of deflate's gain on
/// GLZ output for a fraction of the default level's time.
pub const LEVEL: u32 = 3;

/// GLZ streams shorter than this go out as they are, as the reference
/// server does: zlib's framing and the larger header eat what little
/// deflate could save.
pub const MIN_GLZ_BYTES: usize = 100;

/// Bytes a ZLIB_GLZ payload adds to its zlib stream beyond what a GLZ
/// payload adds to its GLZ stream (the u32 inflated size).
const EXTRA_HEADER_BYTES: usize = 4;

/// A ZLIB_GLZ_RGB payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZlibGlz {
    /// Length of the GLZ stream once inflated.
    pub glz_size: u32,
    /// The zlib stream.
    pub data: Vec<u8>,
}

/// Deflates `glz` when that makes the payload smaller; `Ok(None)` when it
/// would not (or the stream is too short to try).
pub fn wrap(glz: &[u8]) -> Result<Option<ZlibGlz>, CodecError> {
    let Ok(glz_size) = u32::try_from(glz.len()) else {
        return Ok(None);
    };
    if glz.len() < MIN_GLZ_BYTES {
        return Ok(None);
    }
    // Room for a stream that beats the GLZ payload, and no more: deflate
    // stops when the buffer fills, so incompressible input costs no extra
    // memory and ends early.
    let limit = glz.len() - EXTRA_HEADER_BYTES - 1;
    let mut data = Vec::with_capacity(limit);
    let mut z = Compress::new(Compression::new(LEVEL), true);
    let status = z
        .compress_vec(glz, &mut data, FlushCompress::Finish)
        .map_err(|e| CodecError::Library {
            codec: "zlib",
            reason: e.to_string(),
        })?;
    if status == Status::StreamEnd && data.len() <= limit {
        Ok(Some(ZlibGlz { glz_size, data }))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Read;

    /// Inflates a zlib stream as spice-gtk's decode-zlib.c does: into a
    /// buffer of exactly `size` bytes, the stream having to end there.
    pub(crate) fn inflate(data: &[u8], size: u32) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(size as usize);
        flate2::read::ZlibDecoder::new(data)
            .take(u64::from(size) + 1)
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        if out.len() != size as usize {
            return Err(format!("inflated {} bytes, header says {size}", out.len()));
        }
        Ok(out)
    }

    #[test]
    fn compressible_streams_are_wrapped_and_inflate_back() {
        let glz: Vec<u8> = (0..5000u32).map(|i| (i % 17) as u8).collect();
        let wrapped = wrap(&glz).expect("wrap").expect("smaller");
        assert_eq!(wrapped.glz_size, 5000);
        assert!(wrapped.data.len() < 500);
        // zlib format: a CMF byte for deflate with a 32 KiB window.
        assert_eq!(wrapped.data[0], 0x78);
        assert_eq!(
            inflate(&wrapped.data, wrapped.glz_size).expect("inflate"),
            glz
        );
    }

    #[test]
    fn short_or_incompressible_streams_are_left_alone() {
        assert_eq!(wrap(&[0u8; MIN_GLZ_BYTES - 1]), Ok(None));
        let noise = crate::codec::test_noise(99, 4000);
        assert_eq!(wrap(&noise), Ok(None));
    }
}
