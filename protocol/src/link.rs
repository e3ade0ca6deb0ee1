//! The link stage: SpiceLinkHeader, SpiceLinkMess (client) and SpiceLinkReply (server).

use crate::caps::Caps;
use crate::consts::{LinkErr, SPICE_MAGIC, TICKET_PUBKEY_BYTES, VERSION_MAJOR, VERSION_MINOR};
use crate::wire::{Reader, WireError, Writer};

/// Size of SpiceLinkHeader.
pub const LINK_HEADER_SIZE: usize = 16;
/// Largest link message body the reference server accepts.
pub const MAX_LINK_MESS_SIZE: u32 = 4096;
/// Most capability words (common + channel) the reference server accepts.
pub const MAX_CAPS_WORDS: u32 = 1024;
/// Fixed part of SpiceLinkMess; its caps_offset is normally this.
pub const LINK_MESS_SIZE: usize = 18;
/// Fixed part of SpiceLinkReply; its caps_offset is normally this.
pub const LINK_REPLY_SIZE: usize = 4 + TICKET_PUBKEY_BYTES + 12;

/// The 16 bytes that open every link message in both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkHeader {
    /// Must be `SPICE_MAGIC`.
    pub magic: u32,
    /// Must be 2.
    pub major: u32,
    /// Informational; 2 today.
    pub minor: u32,
    /// Length of the link message that follows.
    pub size: u32,
}

impl LinkHeader {
    /// A header for a `size`-byte body with our magic and version.
    pub fn new(size: u32) -> Self {
        LinkHeader {
            magic: SPICE_MAGIC,
            major: VERSION_MAJOR,
            minor: VERSION_MINOR,
            size,
        }
    }

    /// Decodes the header; every bit pattern is a header, `check` says whether it is acceptable.
    pub fn parse(b: &[u8; LINK_HEADER_SIZE]) -> LinkHeader {
        let word = |i: usize| {
            let mut w = [0u8; 4];
            if let Some(src) = b.get(i * 4..i * 4 + 4) {
                w.copy_from_slice(src);
            }
            u32::from_le_bytes(w)
        };
        LinkHeader {
            magic: word(0),
            major: word(1),
            minor: word(2),
            size: word(3),
        }
    }

    /// Applies the reference server's checks to a client's header, yielding the error to send back.
    pub fn check(&self) -> Result<(), LinkErr> {
        if self.magic != SPICE_MAGIC {
            return Err(LinkErr::InvalidMagic);
        }
        if self.major != VERSION_MAJOR {
            return Err(LinkErr::VersionMismatch);
        }
        if (self.size as usize) < LINK_MESS_SIZE || self.size > MAX_LINK_MESS_SIZE {
            return Err(LinkErr::InvalidData);
        }
        Ok(())
    }

    /// Appends the 16 header bytes.
    pub fn write(&self, w: &mut Writer) {
        w.u32(self.magic)
            .u32(self.major)
            .u32(self.minor)
            .u32(self.size);
    }

    /// The 16 header bytes.
    pub fn to_bytes(&self) -> [u8; LINK_HEADER_SIZE] {
        let mut out = [0u8; LINK_HEADER_SIZE];
        for (chunk, v) in out
            .chunks_exact_mut(4)
            .zip([self.magic, self.major, self.minor, self.size])
        {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        out
    }
}

/// Reads `count` u32 words from `buf` at `offset`.
fn read_words(
    buf: &[u8],
    offset: usize,
    count: u32,
    what: &'static str,
) -> Result<Vec<u32>, WireError> {
    let mut r = Reader::at(buf, offset, what)?;
    let need = (count as usize).saturating_mul(4);
    if r.remaining() < need {
        return Err(WireError::Truncated {
            what,
            need,
            have: r.remaining(),
        });
    }
    (0..count).map(|_| r.u32()).collect()
}

/// Validates counts and offset of a caps block and reads both sets.
fn read_caps(
    body: &[u8],
    num_common: u32,
    num_channel: u32,
    caps_offset: u32,
    fixed: usize,
    what: &'static str,
) -> Result<(Caps, Caps), WireError> {
    let total = u64::from(num_common) + u64::from(num_channel);
    if total > u64::from(MAX_CAPS_WORDS) {
        return Err(WireError::TooLarge {
            what: "link caps count",
            value: total,
            max: u64::from(MAX_CAPS_WORDS),
        });
    }
    let offset = caps_offset as usize;
    // A zeroed error reply carries no caps and offset 0; only insist on a sane
    // offset when there is something to read.
    if total > 0 && (offset < fixed || offset > body.len()) {
        return Err(WireError::Invalid {
            what: "link caps offset",
            value: u64::from(caps_offset),
        });
    }
    if total == 0 {
        return Ok((Caps::new(), Caps::new()));
    }
    let common = read_words(body, offset, num_common, what)?;
    let channel = read_words(body, offset + common.len() * 4, num_channel, what)?;
    Ok((Caps::from_words(common), Caps::from_words(channel)))
}

/// Appends `common` then `channel` caps words.
fn write_caps(w: &mut Writer, common: &Caps, channel: &Caps) {
    for &word in common.words().iter().chain(channel.words()) {
        w.u32(word);
    }
}

fn caps_count(c: &Caps) -> u32 {
    u32::try_from(c.num_words()).unwrap_or(u32::MAX)
}

/// What the client asks for when it opens a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkMess {
    /// 0 for a new session's main channel, else the session id from MAIN_INIT.
    pub connection_id: u32,
    /// Raw `SPICE_CHANNEL_*` value (unknown types are the caller's to refuse).
    pub channel_type: u8,
    /// Instance number of the channel.
    pub channel_id: u8,
    /// Common caps the client supports.
    pub common_caps: Caps,
    /// Channel-specific caps the client supports.
    pub channel_caps: Caps,
}

impl LinkMess {
    /// Parses the `header.size` bytes that follow the link header.
    pub fn parse(body: &[u8]) -> Result<LinkMess, WireError> {
        let mut r = Reader::named(body, "link message");
        let connection_id = r.u32()?;
        let channel_type = r.u8()?;
        let channel_id = r.u8()?;
        let num_common = r.u32()?;
        let num_channel = r.u32()?;
        let caps_offset = r.u32()?;
        // Real clients always point just past the fixed part; an offset inside
        // it would alias the fields above as caps.
        if (caps_offset as usize) < LINK_MESS_SIZE {
            return Err(WireError::Invalid {
                what: "link caps offset",
                value: u64::from(caps_offset),
            });
        }
        let (common_caps, channel_caps) = read_caps(
            body,
            num_common,
            num_channel,
            caps_offset,
            LINK_MESS_SIZE,
            "link message caps",
        )?;
        Ok(LinkMess {
            connection_id,
            channel_type,
            channel_id,
            common_caps,
            channel_caps,
        })
    }

    /// Length of the body (without the 16-byte header).
    pub fn body_size(&self) -> usize {
        LINK_MESS_SIZE + 4 * (self.common_caps.num_words() + self.channel_caps.num_words())
    }

    /// The full client message, link header included, as a client would send it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let size = self.body_size();
        let mut w = Writer::with_capacity(LINK_HEADER_SIZE + size);
        LinkHeader::new(u32::try_from(size).unwrap_or(u32::MAX)).write(&mut w);
        w.u32(self.connection_id)
            .u8(self.channel_type)
            .u8(self.channel_id)
            .u32(caps_count(&self.common_caps))
            .u32(caps_count(&self.channel_caps))
            .u32(LINK_MESS_SIZE as u32);
        write_caps(&mut w, &self.common_caps, &self.channel_caps);
        w.into_vec()
    }
}

/// The server's answer to a LinkMess.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkReply {
    /// `Ok` or the reason the link is refused.
    pub error: LinkErr,
    /// DER SubjectPublicKeyInfo of the ticket key, at most 162 bytes (zero padded on the wire).
    pub pub_key: Vec<u8>,
    /// Common caps the server supports.
    pub common_caps: Caps,
    /// Channel caps the server supports.
    pub channel_caps: Caps,
}

impl LinkReply {
    /// Length of the body (without the 16-byte header).
    pub fn body_size(&self) -> usize {
        LINK_REPLY_SIZE + 4 * (self.common_caps.num_words() + self.channel_caps.num_words())
    }

    /// The full reply, link header included.
    ///
    /// A key longer than 162 bytes is refused: truncating a DER key would hand
    /// the client garbage it cannot encrypt with.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WireError> {
        if self.pub_key.len() > TICKET_PUBKEY_BYTES {
            return Err(WireError::TooLarge {
                what: "link public key",
                value: self.pub_key.len() as u64,
                max: TICKET_PUBKEY_BYTES as u64,
            });
        }
        let size = self.body_size();
        let mut w = Writer::with_capacity(LINK_HEADER_SIZE + size);
        LinkHeader::new(u32::try_from(size).unwrap_or(u32::MAX)).write(&mut w);
        w.u32(self.error.as_u32())
            .bytes(&self.pub_key)
            .zeros(TICKET_PUBKEY_BYTES - self.pub_key.len())
            .u32(caps_count(&self.common_caps))
            .u32(caps_count(&self.channel_caps))
            .u32(LINK_REPLY_SIZE as u32);
        write_caps(&mut w, &self.common_caps, &self.channel_caps);
        Ok(w.into_vec())
    }

    /// Header plus an all-zero reply carrying only `err`, as the reference server sends on early failure.
    pub fn error_only(err: LinkErr) -> Vec<u8> {
        let mut w = Writer::with_capacity(LINK_HEADER_SIZE + LINK_REPLY_SIZE);
        LinkHeader::new(LINK_REPLY_SIZE as u32).write(&mut w);
        w.u32(err.as_u32()).zeros(LINK_REPLY_SIZE - 4);
        w.into_vec()
    }

    /// Parses the body that follows the link header (client side).
    pub fn parse(body: &[u8]) -> Result<LinkReply, WireError> {
        let mut r = Reader::named(body, "link reply");
        let error = LinkErr::try_from(r.u32()?)?;
        let pub_key = r.bytes(TICKET_PUBKEY_BYTES)?.to_vec();
        let num_common = r.u32()?;
        let num_channel = r.u32()?;
        let caps_offset = r.u32()?;
        let (common_caps, channel_caps) = read_caps(
            body,
            num_common,
            num_channel,
            caps_offset,
            LINK_REPLY_SIZE,
            "link reply caps",
        )?;
        Ok(LinkReply {
            error,
            pub_key,
            common_caps,
            channel_caps,
        })
    }
}

/// The 4-byte result the server sends after checking the ticket (or connection id).
pub fn link_result(err: LinkErr) -> [u8; 4] {
    err.as_u32().to_le_bytes()
}

/// Parses the 4-byte post-auth result (client side).
pub fn parse_link_result(b: &[u8]) -> Result<LinkErr, WireError> {
    let mut r = Reader::named(b, "link result");
    let err = LinkErr::try_from(r.u32()?)?;
    r.finish()?;
    Ok(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::{common_cap, ChannelType};
    use proptest::prelude::*;

    fn sample_mess() -> LinkMess {
        LinkMess {
            connection_id: 0x1234,
            channel_type: ChannelType::Display.as_u8(),
            channel_id: 1,
            common_caps: Caps::from_words(vec![0x0d]),
            channel_caps: Caps::from_words(vec![0x6fbf, 0x1]),
        }
    }

    fn sample_reply() -> LinkReply {
        LinkReply {
            error: LinkErr::Ok,
            pub_key: (0..162u32).map(|i| i as u8).collect(),
            common_caps: Caps::with(&[
                common_cap::AUTH_SELECTION,
                common_cap::AUTH_SPICE,
                common_cap::MINI_HEADER,
            ]),
            channel_caps: Caps::from_words(vec![0x52]),
        }
    }

    fn split_header(bytes: &[u8]) -> (LinkHeader, &[u8]) {
        let (h, body) = bytes.split_at(LINK_HEADER_SIZE);
        let h: [u8; LINK_HEADER_SIZE] = h.try_into().unwrap();
        (LinkHeader::parse(&h), body)
    }

    #[test]
    fn header_round_trip_and_layout() {
        let h = LinkHeader::new(26);
        let bytes = h.to_bytes();
        assert_eq!(&bytes[..4], b"REDQ");
        assert_eq!(&bytes[4..8], &[2, 0, 0, 0]);
        assert_eq!(LinkHeader::parse(&bytes), h);
        let mut w = Writer::new();
        h.write(&mut w);
        assert_eq!(w.as_slice(), &bytes);
        assert_eq!(h.check(), Ok(()));
    }

    #[test]
    fn header_check_errors() {
        let mut h = LinkHeader::new(18);
        assert_eq!(h.check(), Ok(()));
        h.magic = u32::from_le_bytes(*b"GET ");
        assert_eq!(h.check(), Err(LinkErr::InvalidMagic));
        h = LinkHeader::new(18);
        h.major = 1;
        assert_eq!(h.check(), Err(LinkErr::VersionMismatch));
        h = LinkHeader::new(18);
        h.minor = 77;
        assert_eq!(h.check(), Ok(()));
        assert_eq!(LinkHeader::new(17).check(), Err(LinkErr::InvalidData));
        assert_eq!(LinkHeader::new(4096).check(), Ok(()));
        assert_eq!(LinkHeader::new(4097).check(), Err(LinkErr::InvalidData));
    }

    #[test]
    fn mess_layout_matches_spec() {
        let bytes = sample_mess().to_bytes();
        let (h, body) = split_header(&bytes);
        assert_eq!(h.size as usize, 18 + 4 * 3);
        assert_eq!(body.len(), h.size as usize);
        assert_eq!(&body[0..4], &0x1234u32.to_le_bytes());
        assert_eq!(body[4], 2);
        assert_eq!(body[5], 1);
        assert_eq!(&body[6..10], &1u32.to_le_bytes());
        assert_eq!(&body[10..14], &2u32.to_le_bytes());
        assert_eq!(&body[14..18], &18u32.to_le_bytes());
        assert_eq!(&body[18..22], &0x0du32.to_le_bytes());
    }

    #[test]
    fn mess_round_trip() {
        let m = sample_mess();
        let bytes = m.to_bytes();
        let (_, body) = split_header(&bytes);
        assert_eq!(LinkMess::parse(body), Ok(m));
    }

    #[test]
    fn mess_without_caps_round_trips() {
        let m = LinkMess {
            connection_id: 0,
            channel_type: 1,
            channel_id: 0,
            common_caps: Caps::new(),
            channel_caps: Caps::new(),
        };
        let bytes = m.to_bytes();
        let (h, body) = split_header(&bytes);
        assert_eq!(h.size, 18);
        assert_eq!(LinkMess::parse(body), Ok(m));
    }

    #[test]
    fn mess_truncated_at_every_byte() {
        let bytes = sample_mess().to_bytes();
        let (_, body) = split_header(&bytes);
        for n in 0..body.len() {
            assert!(
                matches!(
                    LinkMess::parse(&body[..n]),
                    Err(WireError::Truncated { .. }) | Err(WireError::Invalid { .. })
                ),
                "prefix {n} parsed"
            );
        }
    }

    #[test]
    fn mess_tolerates_caps_after_padding() {
        let m = sample_mess();
        let bytes = m.to_bytes();
        let (_, body) = split_header(&bytes);
        let mut moved = body[..18].to_vec();
        moved[14..18].copy_from_slice(&22u32.to_le_bytes());
        moved.extend_from_slice(&[0xaa; 4]);
        moved.extend_from_slice(&body[18..]);
        assert_eq!(LinkMess::parse(&moved), Ok(m));
    }

    #[test]
    fn mess_bad_offset_and_counts() {
        let bytes = sample_mess().to_bytes();
        let (_, body) = split_header(&bytes);
        let mut b = body.to_vec();
        b[14..18].copy_from_slice(&17u32.to_le_bytes());
        assert_eq!(
            LinkMess::parse(&b),
            Err(WireError::Invalid {
                what: "link caps offset",
                value: 17
            })
        );
        b[14..18].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            LinkMess::parse(&b),
            Err(WireError::Invalid { .. })
        ));

        let mut b = body.to_vec();
        b[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
        b[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            LinkMess::parse(&b),
            Err(WireError::TooLarge { .. })
        ));

        let mut b = body.to_vec();
        b[6..10].copy_from_slice(&1000u32.to_le_bytes());
        b[10..14].copy_from_slice(&25u32.to_le_bytes());
        assert!(matches!(
            LinkMess::parse(&b),
            Err(WireError::TooLarge { max: 1024, .. })
        ));

        let mut b = body.to_vec();
        b[6..10].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            LinkMess::parse(&b),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn reply_layout_and_round_trip() {
        let r = sample_reply();
        let bytes = r.to_bytes().unwrap();
        let (h, body) = split_header(&bytes);
        assert_eq!(h.size as usize, 178 + 4 * 2);
        assert_eq!(body.len(), h.size as usize);
        assert_eq!(&body[174..178], &178u32.to_le_bytes());
        assert_eq!(&body[178..182], &0b1011u32.to_le_bytes());
        assert_eq!(LinkReply::parse(body), Ok(r));
    }

    #[test]
    fn reply_pads_short_key_and_refuses_long_key() {
        let mut r = sample_reply();
        r.pub_key = vec![0x30, 0x81];
        let bytes = r.to_bytes().unwrap();
        let (_, body) = split_header(&bytes);
        let parsed = LinkReply::parse(body).unwrap();
        assert_eq!(&parsed.pub_key[..2], &[0x30, 0x81]);
        assert!(parsed.pub_key[2..].iter().all(|&b| b == 0));
        assert_eq!(parsed.pub_key.len(), TICKET_PUBKEY_BYTES);

        r.pub_key = vec![0; 163];
        assert_eq!(
            r.to_bytes(),
            Err(WireError::TooLarge {
                what: "link public key",
                value: 163,
                max: 162
            })
        );
    }

    #[test]
    fn error_only_reply() {
        let bytes = LinkReply::error_only(LinkErr::NeedSecured);
        assert_eq!(bytes.len(), 16 + 178);
        let (h, body) = split_header(&bytes);
        assert_eq!(h.check(), Ok(()));
        assert_eq!(h.size, 178);
        assert_eq!(&body[..4], &5u32.to_le_bytes());
        assert!(body[4..].iter().all(|&b| b == 0));
        let parsed = LinkReply::parse(body).unwrap();
        assert_eq!(parsed.error, LinkErr::NeedSecured);
        assert_eq!(parsed.common_caps, Caps::new());
    }

    #[test]
    fn reply_truncated_at_every_byte() {
        let bytes = sample_reply().to_bytes().unwrap();
        let (_, body) = split_header(&bytes);
        for n in 0..body.len() {
            assert!(LinkReply::parse(&body[..n]).is_err(), "prefix {n} parsed");
        }
    }

    #[test]
    fn reply_bad_error_code() {
        let bytes = sample_reply().to_bytes().unwrap();
        let (_, body) = split_header(&bytes);
        let mut b = body.to_vec();
        b[..4].copy_from_slice(&10u32.to_le_bytes());
        assert_eq!(
            LinkReply::parse(&b),
            Err(WireError::Invalid {
                what: "link error",
                value: 10
            })
        );
        let mut b = body.to_vec();
        b[174..178].copy_from_slice(&4u32.to_le_bytes());
        assert!(matches!(
            LinkReply::parse(&b),
            Err(WireError::Invalid {
                what: "link caps offset",
                ..
            })
        ));
    }

    #[test]
    fn link_result_round_trip() {
        assert_eq!(link_result(LinkErr::PermissionDenied), [7, 0, 0, 0]);
        assert_eq!(parse_link_result(&[0, 0, 0, 0]), Ok(LinkErr::Ok));
        assert!(parse_link_result(&[0, 0, 0]).is_err());
        assert!(parse_link_result(&[0, 0, 0, 0, 0]).is_err());
        assert!(parse_link_result(&[42, 0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn link_mess_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = LinkMess::parse(&data);
        }

        #[test]
        fn link_reply_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = LinkReply::parse(&data);
        }

        #[test]
        fn link_header_parse_never_panics(data in any::<[u8; 16]>()) {
            let h = LinkHeader::parse(&data);
            let _ = h.check();
            prop_assert_eq!(h.to_bytes(), data);
        }

        #[test]
        fn link_mess_round_trips(conn in any::<u32>(), ty in any::<u8>(), id in any::<u8>(),
                                 common in proptest::collection::vec(any::<u32>(), 0..4),
                                 chan in proptest::collection::vec(any::<u32>(), 0..4)) {
            let m = LinkMess {
                connection_id: conn, channel_type: ty, channel_id: id,
                common_caps: Caps::from_words(common), channel_caps: Caps::from_words(chan),
            };
            let bytes = m.to_bytes();
            prop_assert_eq!(LinkMess::parse(&bytes[LINK_HEADER_SIZE..]), Ok(m));
        }
    }
}
