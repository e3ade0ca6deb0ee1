//! Data message headers: the 6-byte mini header and the 18-byte full header.

use crate::wire::{Reader, WireError};

/// Which header framing a channel uses (mini once both sides have MINI_HEADER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderKind {
    /// `u16 type, u32 size`.
    Mini,
    /// `u64 serial, u16 type, u32 size, u32 sub_list`.
    Full,
}

impl HeaderKind {
    /// Header length in bytes.
    pub const fn size(self) -> usize {
        match self {
            HeaderKind::Mini => 6,
            HeaderKind::Full => 18,
        }
    }
}

/// A decoded message header; mini headers leave `serial` and `sub_list` at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgHeader {
    /// Message type number.
    pub msg_type: u16,
    /// Body length.
    pub size: u32,
    /// Sender's serial (full header only).
    pub serial: u64,
    /// Body offset of a SpiceSubMessageList, 0 for none (full header only).
    pub sub_list: u32,
}

impl MsgHeader {
    /// Decodes the header at the start of `b`; bytes after it are ignored.
    pub fn parse(kind: HeaderKind, b: &[u8]) -> Result<MsgHeader, WireError> {
        let mut r = Reader::named(b, "message header");
        match kind {
            HeaderKind::Mini => Ok(MsgHeader {
                msg_type: r.u16()?,
                size: r.u32()?,
                serial: 0,
                sub_list: 0,
            }),
            HeaderKind::Full => {
                let serial = r.u64()?;
                let msg_type = r.u16()?;
                let size = r.u32()?;
                let sub_list = r.u32()?;
                Ok(MsgHeader {
                    msg_type,
                    size,
                    serial,
                    sub_list,
                })
            }
        }
    }

    /// Appends a header; `serial` is dropped for mini headers and `sub_list` is always 0.
    pub fn write(kind: HeaderKind, serial: u64, msg_type: u16, size: u32, out: &mut Vec<u8>) {
        if kind == HeaderKind::Full {
            out.extend_from_slice(&serial.to_le_bytes());
        }
        out.extend_from_slice(&msg_type.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        if kind == HeaderKind::Full {
            out.extend_from_slice(&0u32.to_le_bytes());
        }
    }
}

/// Header plus body in one buffer, ready to send.
///
/// Bodies over 4 GiB cannot be framed; the size field is clamped, which the
/// peer will reject rather than misparse silently.
pub fn frame(kind: HeaderKind, serial: u64, msg_type: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(kind.size() + body.len());
    let size = u32::try_from(body.len()).unwrap_or(u32::MAX);
    MsgHeader::write(kind, serial, msg_type, size, &mut out);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(HeaderKind::Mini.size(), 6);
        assert_eq!(HeaderKind::Full.size(), 18);
    }

    #[test]
    fn mini_layout_and_round_trip() {
        let mut out = Vec::new();
        MsgHeader::write(HeaderKind::Mini, 99, 0x0130, 0x0102_0304, &mut out);
        assert_eq!(out, vec![0x30, 0x01, 0x04, 0x03, 0x02, 0x01]);
        assert_eq!(
            MsgHeader::parse(HeaderKind::Mini, &out),
            Ok(MsgHeader {
                msg_type: 0x130,
                size: 0x0102_0304,
                serial: 0,
                sub_list: 0
            })
        );
    }

    #[test]
    fn full_layout_and_round_trip() {
        let mut out = Vec::new();
        MsgHeader::write(HeaderKind::Full, 7, 3, 8, &mut out);
        assert_eq!(out.len(), 18);
        assert_eq!(&out[..8], &7u64.to_le_bytes());
        assert_eq!(&out[8..10], &3u16.to_le_bytes());
        assert_eq!(&out[10..14], &8u32.to_le_bytes());
        assert_eq!(&out[14..18], &[0, 0, 0, 0]);
        assert_eq!(
            MsgHeader::parse(HeaderKind::Full, &out),
            Ok(MsgHeader {
                msg_type: 3,
                size: 8,
                serial: 7,
                sub_list: 0
            })
        );
    }

    #[test]
    fn full_header_reads_sub_list() {
        let mut b = vec![0u8; 18];
        b[14..18].copy_from_slice(&40u32.to_le_bytes());
        assert_eq!(MsgHeader::parse(HeaderKind::Full, &b).unwrap().sub_list, 40);
    }

    #[test]
    fn truncated_at_every_byte() {
        for kind in [HeaderKind::Mini, HeaderKind::Full] {
            let mut out = Vec::new();
            MsgHeader::write(kind, 1, 2, 3, &mut out);
            for n in 0..out.len() {
                assert!(matches!(
                    MsgHeader::parse(kind, &out[..n]),
                    Err(WireError::Truncated { .. })
                ));
            }
        }
    }

    #[test]
    fn frame_prepends_header() {
        let f = frame(HeaderKind::Mini, 0, 102, &[]);
        assert_eq!(f, vec![102, 0, 0, 0, 0, 0]);
        let f = frame(HeaderKind::Full, 5, 3, &[1, 2]);
        assert_eq!(f.len(), 20);
        assert_eq!(MsgHeader::parse(HeaderKind::Full, &f).unwrap().size, 2);
        assert_eq!(&f[18..], &[1, 2]);
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..32)) {
            let _ = MsgHeader::parse(HeaderKind::Mini, &data);
            let _ = MsgHeader::parse(HeaderKind::Full, &data);
        }

        #[test]
        fn round_trips(serial in any::<u64>(), ty in any::<u16>(), size in any::<u32>()) {
            let mut out = Vec::new();
            MsgHeader::write(HeaderKind::Full, serial, ty, size, &mut out);
            let h = MsgHeader::parse(HeaderKind::Full, &out).unwrap();
            prop_assert_eq!(h, MsgHeader { msg_type: ty, size, serial, sub_list: 0 });
        }
    }
}
