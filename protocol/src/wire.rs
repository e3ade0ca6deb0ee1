//! Bounds-checked little-endian reading and writing of packed SPICE structs.
//!
//! Every SPICE integer is little-endian and every struct is packed, so a byte
//! cursor is all the machinery the wire format needs. The reader never panics:
//! each read reports what it needed and what was left.

/// Why a byte string could not be parsed as the SPICE message it claimed to be.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum WireError {
    /// The input ended before a field of `need` bytes could be read (`have` were left).
    #[error("{what}: truncated, need {need} bytes, have {have}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes the read needed.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// A field held a value the protocol does not allow.
    #[error("{what}: invalid value {value}")]
    Invalid {
        /// Which field.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
    /// A count or length exceeded what we accept.
    #[error("{what}: {value} exceeds the maximum {max}")]
    TooLarge {
        /// Which count or length.
        what: &'static str,
        /// The value received.
        value: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A fixed-size message carried more bytes than its layout.
    #[error("{what}: {count} unexpected trailing bytes")]
    TrailingBytes {
        /// Which message.
        what: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
}

/// Cursor over a byte slice that reads packed little-endian fields.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

macro_rules! read_int {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(
            #[doc = concat!("Reads a little-endian `", stringify!($ty), "`.")]
            pub fn $name(&mut self) -> Result<$ty, WireError> {
                self.array().map(<$ty>::from_le_bytes)
            }
        )*
    };
}

impl<'a> Reader<'a> {
    /// Starts reading `buf` from its first byte; errors name the input "message".
    pub fn new(buf: &'a [u8]) -> Self {
        Self::named(buf, "message")
    }

    /// Starts reading `buf`, naming it `what` in every error so logs say which message broke.
    pub fn named(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// Starts reading `buf` at `offset`, as SPICE pointer fields (offsets from the body start) require.
    pub fn at(buf: &'a [u8], offset: usize, what: &'static str) -> Result<Self, WireError> {
        if offset > buf.len() {
            return Err(WireError::Invalid {
                what,
                value: offset as u64,
            });
        }
        Ok(Reader {
            buf,
            pos: offset,
            what,
        })
    }

    /// The name used in errors.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Changes the name used in later errors (e.g. when moving from a header to a payload).
    pub fn set_what(&mut self, what: &'static str) {
        self.what = what;
    }

    /// Reads the next `n` bytes without copying them.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.get(..n) {
            Some(out) => {
                self.pos += n;
                Ok(out)
            }
            None => Err(WireError::Truncated {
                what: self.what,
                need: n,
                have: rest.len(),
            }),
        }
    }

    /// Reads exactly `N` bytes into an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// Skips `n` bytes, failing if fewer are left.
    pub fn skip(&mut self, n: usize) -> Result<(), WireError> {
        self.bytes(n).map(|_| ())
    }

    read_int!(u8: u8, u16: u16, u32: u32, u64: u64, i8: i8, i16: i16, i32: i32, i64: i64);

    /// Consumes and returns everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        out
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Bytes read so far, counted from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Succeeds only if every byte has been read; fixed-size messages use this to reject junk.
    pub fn finish(&self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(WireError::TrailingBytes {
                what: self.what,
                count,
            }),
        }
    }
}

/// Growable buffer that appends packed little-endian fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writer {
    buf: Vec<u8>,
}

macro_rules! write_int {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(
            #[doc = concat!("Appends a little-endian `", stringify!($ty), "`.")]
            pub fn $name(&mut self, v: $ty) -> &mut Self {
                self.buf.extend_from_slice(&v.to_le_bytes());
                self
            }
        )*
    };
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `n` bytes, to avoid regrowing large image messages.
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    write_int!(u8: u8, u16: u16, u32: u32, u64: u64, i8: i8, i16: i16, i32: i32, i64: i64);

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// Appends `n` zero bytes.
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.buf.resize(self.buf.len().saturating_add(n), 0);
        self
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Overwrites the u32 at byte `at`, for sizes and offsets only known after the payload.
    ///
    /// # Panics
    /// If `at + 4` exceeds the bytes written: that is a bug in the marshaller, not bad input.
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        let end = at.saturating_add(4);
        let len = self.buf.len();
        match self.buf.get_mut(at..end) {
            Some(slot) => slot.copy_from_slice(&v.to_le_bytes()),
            None => panic!("patch_u32 at {at} past the end of a {len}-byte buffer"),
        }
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Gives up the buffer.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// Length of `data` as a wire u32, and the prefix of `data` that length covers.
///
/// Wire lengths are u32; clamping keeps the length field and the bytes written
/// consistent even for absurd inputs instead of panicking or lying.
pub fn u32_len(data: &[u8]) -> (u32, &[u8]) {
    let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
    (n, data.get(..n as usize).unwrap_or(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_little_endian_fields_in_order() {
        let buf = [
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
            0x0f,
        ];
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8(), Ok(0x01));
        assert_eq!(r.u16(), Ok(0x0302));
        assert_eq!(r.u32(), Ok(0x0706_0504));
        assert_eq!(r.u64(), Ok(0x0f0e_0d0c_0b0a_0908));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.position(), 15);
        assert!(r.finish().is_ok());
    }

    #[test]
    fn signed_reads_sign_extend() {
        let buf = [0xff, 0xfe, 0xff, 0xfd, 0xff, 0xff, 0xff];
        let mut r = Reader::new(&buf);
        assert_eq!(r.i8(), Ok(-1));
        assert_eq!(r.i16(), Ok(-2));
        assert_eq!(r.i32(), Ok(-3));
    }

    #[test]
    fn truncation_reports_need_and_have() {
        let buf = [1, 2, 3];
        let mut r = Reader::named(&buf, "thing");
        assert_eq!(r.u16(), Ok(0x0201));
        assert_eq!(
            r.u32(),
            Err(WireError::Truncated {
                what: "thing",
                need: 4,
                have: 1
            })
        );
        // A failed read consumes nothing.
        assert_eq!(r.position(), 2);
        assert_eq!(r.u8(), Ok(3));
    }

    #[test]
    fn bytes_rest_and_skip() {
        let buf = [1, 2, 3, 4, 5];
        let mut r = Reader::new(&buf);
        assert_eq!(r.bytes(2), Ok(&buf[..2]));
        assert!(r.skip(1).is_ok());
        assert!(r.bytes(3).is_err());
        assert_eq!(r.rest(), &buf[3..]);
        assert_eq!(r.rest(), &[] as &[u8]);
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.bytes(0), Ok(&[] as &[u8]));
    }

    #[test]
    fn huge_byte_count_is_truncation_not_overflow() {
        let buf = [0u8; 4];
        let mut r = Reader::new(&buf);
        r.skip(2).unwrap();
        assert_eq!(
            r.bytes(usize::MAX),
            Err(WireError::Truncated {
                what: "message",
                need: usize::MAX,
                have: 2
            })
        );
    }

    #[test]
    fn finish_rejects_trailing() {
        let buf = [0u8; 3];
        let mut r = Reader::named(&buf, "x");
        r.u8().unwrap();
        assert_eq!(
            r.finish(),
            Err(WireError::TrailingBytes {
                what: "x",
                count: 2
            })
        );
    }

    #[test]
    fn reader_at_checks_offset() {
        let buf = [9u8, 8, 7];
        let mut r = Reader::at(&buf, 1, "p").unwrap();
        assert_eq!(r.u8(), Ok(8));
        assert!(Reader::at(&buf, 3, "p").is_ok());
        assert_eq!(
            Reader::at(&buf, 4, "p").unwrap_err(),
            WireError::Invalid {
                what: "p",
                value: 4
            }
        );
    }

    #[test]
    fn writer_round_trips_every_width() {
        let mut w = Writer::with_capacity(64);
        assert!(w.is_empty());
        w.u8(0xab)
            .u16(0xbeef)
            .u32(0xdead_beef)
            .u64(0x0123_4567_89ab_cdef)
            .i8(-5)
            .i16(-300)
            .i32(-70000)
            .i64(-1)
            .bytes(b"xy")
            .zeros(3);
        assert_eq!(w.len(), 1 + 2 + 4 + 8 + 1 + 2 + 4 + 8 + 2 + 3);
        let v = w.into_vec();
        let mut r = Reader::new(&v);
        assert_eq!(r.u8(), Ok(0xab));
        assert_eq!(r.u16(), Ok(0xbeef));
        assert_eq!(r.u32(), Ok(0xdead_beef));
        assert_eq!(r.u64(), Ok(0x0123_4567_89ab_cdef));
        assert_eq!(r.i8(), Ok(-5));
        assert_eq!(r.i16(), Ok(-300));
        assert_eq!(r.i32(), Ok(-70000));
        assert_eq!(r.i64(), Ok(-1));
        assert_eq!(r.bytes(2), Ok(&b"xy"[..]));
        assert_eq!(r.rest(), &[0, 0, 0]);
    }

    #[test]
    fn writer_is_little_endian() {
        let mut w = Writer::new();
        w.u32(0x0403_0201);
        assert_eq!(w.as_slice(), &[1, 2, 3, 4]);
    }

    #[test]
    fn patch_u32_overwrites_in_place() {
        let mut w = Writer::new();
        w.u32(0).u8(7);
        w.patch_u32(0, 0x1122_3344);
        assert_eq!(w.into_vec(), vec![0x44, 0x33, 0x22, 0x11, 7]);
    }

    #[test]
    #[should_panic(expected = "past the end")]
    fn patch_u32_out_of_range_is_a_bug() {
        let mut w = Writer::new();
        w.u16(0);
        w.patch_u32(0, 1);
    }

    #[test]
    fn u32_len_passes_small_slices_through() {
        let d = [1u8, 2, 3];
        assert_eq!(u32_len(&d), (3, &d[..]));
    }

    proptest! {
        #[test]
        fn random_reads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64),
                                    ops in proptest::collection::vec(0u8..10, 0..32)) {
            let mut r = Reader::new(&data);
            for op in ops {
                let before = r.position();
                let ok = match op {
                    0 => r.u8().is_ok(),
                    1 => r.u16().is_ok(),
                    2 => r.u32().is_ok(),
                    3 => r.u64().is_ok(),
                    4 => r.i16().is_ok(),
                    5 => r.i32().is_ok(),
                    6 => r.i64().is_ok(),
                    7 => r.bytes(5).is_ok(),
                    8 => r.skip(3).is_ok(),
                    _ => { r.rest(); true }
                };
                if !ok {
                    prop_assert_eq!(r.position(), before);
                }
                prop_assert!(r.position() <= data.len());
                prop_assert_eq!(r.position() + r.remaining(), data.len());
            }
        }
    }
}
