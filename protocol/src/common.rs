//! Messages every channel shares (numbers 1–100) and the ACK-window flow control.

use crate::consts::LinkErr;
use crate::wire::{u32_len, Reader, WireError, Writer};

/// MIGRATE flag: the client must answer with MIGRATE_FLUSH_MARK.
pub const MIGRATE_NEED_FLUSH: u32 = 1;
/// MIGRATE flag: MIGRATE_DATA follows.
pub const MIGRATE_NEED_DATA_TRANSFER: u32 = 2;

/// NOTIFY severity (`SpiceNotifySeverity`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotifySeverity {
    /// Informational.
    Info = 0,
    /// Warning.
    Warn = 1,
    /// Error.
    Error = 2,
}

/// NOTIFY visibility (`SpiceNotifyVisibility`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotifyVisibility {
    /// Log only.
    Low = 0,
    /// May be shown.
    Medium = 1,
    /// Should be shown.
    High = 2,
}

/// MIGRATE body.
pub fn migrate(flags: u32) -> Vec<u8> {
    flags.to_le_bytes().to_vec()
}

/// SET_ACK body: the client will answer ACK_SYNC(generation) and ACK every `window` messages.
pub fn set_ack(generation: u32, window: u32) -> Vec<u8> {
    let mut w = Writer::with_capacity(8);
    w.u32(generation).u32(window);
    w.into_vec()
}

/// PING body with `padding` zero bytes after the fixed part (used for bandwidth probes).
pub fn ping(id: u32, timestamp: u64, padding: usize) -> Vec<u8> {
    let mut w = Writer::with_capacity(12usize.saturating_add(padding));
    w.u32(id).u64(timestamp).zeros(padding);
    w.into_vec()
}

/// One entry of WAIT_FOR_CHANNELS (and INVAL_ALL_PIXMAPS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitForChannel {
    /// Channel type to wait on.
    pub channel_type: u8,
    /// Channel instance to wait on.
    pub channel_id: u8,
    /// Wait until that channel has handled this serial.
    pub message_serial: u64,
}

/// WAIT_FOR_CHANNELS body; at most 255 entries fit, extra ones are dropped.
pub fn wait_for_channels(waits: &[WaitForChannel]) -> Vec<u8> {
    let count = u8::try_from(waits.len()).unwrap_or(u8::MAX);
    let mut w = Writer::with_capacity(1 + 10 * usize::from(count));
    w.u8(count);
    for wait in waits.iter().take(usize::from(count)) {
        w.u8(wait.channel_type)
            .u8(wait.channel_id)
            .u64(wait.message_serial);
    }
    w.into_vec()
}

/// Parses a WAIT_FOR_CHANNELS body (client side).
pub fn parse_wait_for_channels(body: &[u8]) -> Result<Vec<WaitForChannel>, WireError> {
    let mut r = Reader::named(body, "wait for channels");
    let count = r.u8()?;
    let waits = (0..count)
        .map(|_| {
            Ok(WaitForChannel {
                channel_type: r.u8()?,
                channel_id: r.u8()?,
                message_serial: r.u64()?,
            })
        })
        .collect::<Result<Vec<_>, WireError>>()?;
    r.finish()?;
    Ok(waits)
}

/// DISCONNECTING body (server side).
pub fn disconnecting(time_stamp: u64, reason: LinkErr) -> Vec<u8> {
    let mut w = Writer::with_capacity(12);
    w.u64(time_stamp).u32(reason.as_u32());
    w.into_vec()
}

/// NOTIFY body; a NUL follows `text` but is not counted in its length, as the reference server does.
pub fn notify(
    time_stamp: u64,
    severity: NotifySeverity,
    visibility: NotifyVisibility,
    what: u32,
    text: &str,
) -> Vec<u8> {
    let (len, text) = u32_len(text.as_bytes());
    let mut w = Writer::with_capacity(25 + text.len());
    w.u64(time_stamp)
        .u32(severity as u32)
        .u32(visibility as u32)
        .u32(what)
        .u32(len)
        .bytes(text)
        .u8(0);
    w.into_vec()
}

/// Bundles sub-messages into one LIST body; the client handles them in order.
///
/// Each entry is `(message type, body)`. spice-html5 cannot parse LIST.
pub fn list(messages: &[(u16, &[u8])]) -> Vec<u8> {
    let count = u16::try_from(messages.len()).unwrap_or(u16::MAX);
    let messages = messages.get(..usize::from(count)).unwrap_or(messages);
    let table = 2 + 4 * messages.len();
    let total = table + messages.iter().map(|(_, b)| 6 + b.len()).sum::<usize>();
    let mut w = Writer::with_capacity(total);
    w.u16(count);
    let mut offset = table;
    for (_, body) in messages {
        w.u32(u32::try_from(offset).unwrap_or(u32::MAX));
        offset = offset.saturating_add(6 + body.len());
    }
    for (ty, body) in messages {
        let (len, body) = u32_len(body);
        w.u16(*ty).u32(len).bytes(body);
    }
    w.into_vec()
}

/// Splits a LIST body into `(message type, body)` pairs (client side).
pub fn parse_list(body: &[u8]) -> Result<Vec<(u16, &[u8])>, WireError> {
    let mut r = Reader::named(body, "message list");
    let count = r.u16()?;
    let offsets = (0..count)
        .map(|_| r.u32())
        .collect::<Result<Vec<_>, WireError>>()?;
    offsets
        .into_iter()
        .map(|offset| {
            let mut sub = Reader::at(body, offset as usize, "list sub-message")?;
            let ty = sub.u16()?;
            let size = sub.u32()?;
            Ok((ty, sub.bytes(size as usize)?))
        })
        .collect()
}

/// SET_ACK as the client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetAck {
    /// Generation to echo in ACK_SYNC.
    pub generation: u32,
    /// ACK every this many messages.
    pub window: u32,
}

impl SetAck {
    /// Parses a SET_ACK body (client side).
    pub fn parse(body: &[u8]) -> Result<SetAck, WireError> {
        let mut r = Reader::named(body, "set ack");
        let ack = SetAck {
            generation: r.u32()?,
            window: r.u32()?,
        };
        r.finish()?;
        Ok(ack)
    }
}

/// PING as the client sees it (padding dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// Echoed in PONG.
    pub id: u32,
    /// Echoed in PONG.
    pub timestamp: u64,
}

impl Ping {
    /// Parses a PING body, ignoring padding (client side).
    pub fn parse(body: &[u8]) -> Result<Ping, WireError> {
        let mut r = Reader::named(body, "ping");
        Ok(Ping {
            id: r.u32()?,
            timestamp: r.u64()?,
        })
    }
}

/// ACK_SYNC from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSync {
    /// Generation of the SET_ACK being answered.
    pub generation: u32,
}

impl AckSync {
    /// Parses an ACK_SYNC body.
    pub fn parse(body: &[u8]) -> Result<AckSync, WireError> {
        let mut r = Reader::named(body, "ack sync");
        let generation = r.u32()?;
        r.finish()?;
        Ok(AckSync { generation })
    }

    /// The body (client side).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.generation.to_le_bytes().to_vec()
    }
}

/// PONG from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pong {
    /// Id from the PING.
    pub id: u32,
    /// Timestamp from the PING.
    pub timestamp: u64,
}

impl Pong {
    /// Parses a PONG body; anything after the fixed part is ignored (some clients echo padding).
    pub fn parse(body: &[u8]) -> Result<Pong, WireError> {
        let mut r = Reader::named(body, "pong");
        Ok(Pong {
            id: r.u32()?,
            timestamp: r.u64()?,
        })
    }

    /// The body (client side).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(12);
        w.u32(self.id).u64(self.timestamp);
        w.into_vec()
    }
}

/// DISCONNECTING from either side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnecting {
    /// Sender's clock.
    pub time_stamp: u64,
    /// Raw reason; see [`Disconnecting::link_err`]. Kept raw because it is only logged.
    pub reason: u32,
}

impl Disconnecting {
    /// Parses a DISCONNECTING body.
    pub fn parse(body: &[u8]) -> Result<Disconnecting, WireError> {
        let mut r = Reader::named(body, "disconnecting");
        let d = Disconnecting {
            time_stamp: r.u64()?,
            reason: r.u32()?,
        };
        r.finish()?;
        Ok(d)
    }

    /// The reason as a link error, if it is one.
    pub fn link_err(&self) -> Option<LinkErr> {
        LinkErr::from_u32(self.reason)
    }
}

/// A client→server message any channel may receive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommonClientMsg {
    /// ACK_SYNC.
    AckSync(AckSync),
    /// ACK.
    Ack,
    /// PONG.
    Pong(Pong),
    /// MIGRATE_FLUSH_MARK.
    MigrateFlushMark,
    /// MIGRATE_DATA (opaque).
    MigrateData(Vec<u8>),
    /// DISCONNECTING.
    Disconnecting(Disconnecting),
}

fn empty(body: &[u8], what: &'static str) -> Result<(), WireError> {
    Reader::named(body, what).finish()
}

/// Parses a common client message; `Ok(None)` for types above 100, which belong to the channel.
pub fn parse_common_client(
    msg_type: u16,
    body: &[u8],
) -> Result<Option<CommonClientMsg>, WireError> {
    use crate::consts::msg::common_cli as m;
    let msg = match msg_type {
        m::ACK_SYNC => CommonClientMsg::AckSync(AckSync::parse(body)?),
        m::ACK => {
            empty(body, "ack")?;
            CommonClientMsg::Ack
        }
        m::PONG => CommonClientMsg::Pong(Pong::parse(body)?),
        m::MIGRATE_FLUSH_MARK => {
            empty(body, "migrate flush mark")?;
            CommonClientMsg::MigrateFlushMark
        }
        m::MIGRATE_DATA => CommonClientMsg::MigrateData(body.to_vec()),
        m::DISCONNECTING => CommonClientMsg::Disconnecting(Disconnecting::parse(body)?),
        t if t > crate::consts::msg::common_srv::BASE_LAST => return Ok(None),
        t => {
            return Err(WireError::Invalid {
                what: "common message type",
                value: u64::from(t),
            })
        }
    };
    Ok(Some(msg))
}

/// Server-side ACK window: decides when the server must stop sending and wait for ACKs.
///
/// Mirrors the reference server: every message sent counts, an ACK releases
/// `window` messages but only once the client has echoed the current
/// generation in ACK_SYNC, and sending pauses once more than 2 × `window`
/// messages are unacknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckWindow {
    generation: u32,
    window: u32,
    client_generation: Option<u32>,
    unacked: u64,
}

impl AckWindow {
    /// State right after sending SET_ACK(`generation`, `window`).
    ///
    /// A window of 0 disables flow control: the client would never ACK.
    pub fn new(generation: u32, window: u32) -> Self {
        AckWindow {
            generation,
            window,
            client_generation: None,
            unacked: 0,
        }
    }

    /// Starts over after sending a fresh SET_ACK; ACKs of the old generation stop counting.
    pub fn reset(&mut self, generation: u32, window: u32) {
        *self = AckWindow::new(generation, window);
    }

    /// The SET_ACK body matching this state.
    pub fn set_ack_body(&self) -> Vec<u8> {
        set_ack(self.generation, self.window)
    }

    /// Records one message sent (a LIST counts once).
    pub fn on_sent(&mut self) {
        self.unacked = self.unacked.saturating_add(1);
    }

    /// Records the client's ACK_SYNC.
    pub fn on_ack_sync(&mut self, generation: u32) {
        self.client_generation = Some(generation);
    }

    /// Records an ACK; ignored until ACK_SYNC has confirmed the current generation.
    pub fn on_ack(&mut self) {
        if self.client_generation == Some(self.generation) {
            self.unacked = self.unacked.saturating_sub(u64::from(self.window));
        }
    }

    /// False once more than 2 × window messages are unacknowledged.
    pub fn can_send(&self) -> bool {
        self.window == 0 || self.unacked <= 2 * u64::from(self.window)
    }

    /// Messages sent and not yet acknowledged.
    pub fn unacked(&self) -> u64 {
        self.unacked
    }

    /// Current SET_ACK generation.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Current window.
    pub fn window(&self) -> u32 {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::msg::common_cli;
    use proptest::prelude::*;

    fn assert_truncations<T: std::fmt::Debug>(
        full: &[u8],
        parse: impl Fn(&[u8]) -> Result<T, WireError>,
    ) {
        for n in 0..full.len() {
            assert!(
                matches!(parse(&full[..n]), Err(WireError::Truncated { .. })),
                "prefix of {n} bytes parsed"
            );
        }
    }

    #[test]
    fn set_ack_layout_and_parse() {
        let b = set_ack(1, 20);
        assert_eq!(b, vec![1, 0, 0, 0, 20, 0, 0, 0]);
        assert_eq!(
            SetAck::parse(&b),
            Ok(SetAck {
                generation: 1,
                window: 20
            })
        );
        assert_truncations(&b, SetAck::parse);
        let mut long = b.clone();
        long.push(0);
        assert!(matches!(
            SetAck::parse(&long),
            Err(WireError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn ping_with_padding() {
        let b = ping(7, 0x1122_3344_5566_7788, 5);
        assert_eq!(b.len(), 17);
        assert_eq!(&b[..4], &7u32.to_le_bytes());
        assert_eq!(&b[4..12], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert!(b[12..].iter().all(|&x| x == 0));
        assert_eq!(
            Ping::parse(&b),
            Ok(Ping {
                id: 7,
                timestamp: 0x1122_3344_5566_7788
            })
        );
        assert_truncations(&ping(1, 2, 0), Ping::parse);
    }

    #[test]
    fn pong_round_trip_ignores_padding() {
        let p = Pong {
            id: 3,
            timestamp: 99,
        };
        let mut b = p.to_bytes();
        assert_eq!(b.len(), 12);
        assert_eq!(Pong::parse(&b), Ok(p));
        b.extend_from_slice(&[0; 100]);
        assert_eq!(Pong::parse(&b), Ok(p));
        assert_truncations(&p.to_bytes(), Pong::parse);
    }

    #[test]
    fn ack_sync_round_trip() {
        let a = AckSync { generation: 9 };
        let b = a.to_bytes();
        assert_eq!(AckSync::parse(&b), Ok(a));
        assert_truncations(&b, AckSync::parse);
        assert!(matches!(
            AckSync::parse(&[0; 5]),
            Err(WireError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn disconnecting_round_trip() {
        let b = disconnecting(55, LinkErr::PermissionDenied);
        let d = Disconnecting::parse(&b).unwrap();
        assert_eq!(
            d,
            Disconnecting {
                time_stamp: 55,
                reason: 7
            }
        );
        assert_eq!(d.link_err(), Some(LinkErr::PermissionDenied));
        assert_eq!(
            Disconnecting {
                time_stamp: 0,
                reason: 99
            }
            .link_err(),
            None
        );
        assert_truncations(&b, Disconnecting::parse);
    }

    #[test]
    fn notify_layout() {
        let b = notify(1, NotifySeverity::Warn, NotifyVisibility::High, 0, "hi");
        assert_eq!(b.len(), 8 + 4 * 4 + 2 + 1);
        assert_eq!(&b[8..12], &1u32.to_le_bytes());
        assert_eq!(&b[12..16], &2u32.to_le_bytes());
        assert_eq!(&b[20..24], &2u32.to_le_bytes());
        assert_eq!(&b[24..], b"hi\0");
    }

    #[test]
    fn migrate_body() {
        assert_eq!(
            migrate(MIGRATE_NEED_FLUSH | MIGRATE_NEED_DATA_TRANSFER),
            vec![3, 0, 0, 0]
        );
    }

    #[test]
    fn wait_for_channels_round_trip() {
        let waits = [
            WaitForChannel {
                channel_type: 2,
                channel_id: 0,
                message_serial: 10,
            },
            WaitForChannel {
                channel_type: 2,
                channel_id: 1,
                message_serial: 1 << 40,
            },
        ];
        let b = wait_for_channels(&waits);
        assert_eq!(b.len(), 1 + 2 * 10);
        assert_eq!(parse_wait_for_channels(&b), Ok(waits.to_vec()));
        assert_truncations(&b, parse_wait_for_channels);
        assert_eq!(wait_for_channels(&[]), vec![0]);
    }

    #[test]
    fn list_round_trip() {
        let a: &[u8] = &[1, 2, 3];
        let b: &[u8] = &[];
        let body = list(&[(314, a), (102, b)]);
        // count + 2 offsets, then two sub-messages.
        assert_eq!(body.len(), 2 + 8 + 6 + 3 + 6);
        assert_eq!(&body[2..6], &10u32.to_le_bytes());
        assert_eq!(&body[6..10], &19u32.to_le_bytes());
        assert_eq!(parse_list(&body), Ok(vec![(314, a), (102, b)]));
        for n in 0..body.len() {
            assert!(parse_list(&body[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn list_bad_offset() {
        let mut body = list(&[(1, &[9u8][..])]);
        body[2..6].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(parse_list(&body), Err(WireError::Invalid { .. })));
    }

    #[test]
    fn common_client_dispatch() {
        assert_eq!(
            parse_common_client(common_cli::ACK_SYNC, &[4, 0, 0, 0]),
            Ok(Some(CommonClientMsg::AckSync(AckSync { generation: 4 })))
        );
        assert_eq!(
            parse_common_client(common_cli::ACK, &[]),
            Ok(Some(CommonClientMsg::Ack))
        );
        assert!(parse_common_client(common_cli::ACK, &[0]).is_err());
        assert_eq!(
            parse_common_client(common_cli::MIGRATE_FLUSH_MARK, &[]),
            Ok(Some(CommonClientMsg::MigrateFlushMark))
        );
        assert_eq!(
            parse_common_client(common_cli::MIGRATE_DATA, &[5, 6]),
            Ok(Some(CommonClientMsg::MigrateData(vec![5, 6])))
        );
        assert!(matches!(
            parse_common_client(
                common_cli::PONG,
                &Pong {
                    id: 1,
                    timestamp: 2
                }
                .to_bytes()
            ),
            Ok(Some(CommonClientMsg::Pong(_)))
        ));
        assert!(matches!(
            parse_common_client(common_cli::DISCONNECTING, &disconnecting(0, LinkErr::Ok)),
            Ok(Some(CommonClientMsg::Disconnecting(_)))
        ));
        assert_eq!(parse_common_client(101, &[]), Ok(None));
        assert_eq!(
            parse_common_client(0, &[]),
            Err(WireError::Invalid {
                what: "common message type",
                value: 0
            })
        );
        assert!(parse_common_client(7, &[]).is_err());
    }

    #[test]
    fn ack_window_blocks_after_twice_window() {
        let mut w = AckWindow::new(1, 2);
        for _ in 0..4 {
            assert!(w.can_send());
            w.on_sent();
        }
        assert!(w.can_send(), "exactly 2 x window unacked is still allowed");
        w.on_sent();
        assert!(!w.can_send());
        // ACK before ACK_SYNC does not count.
        w.on_ack();
        assert!(!w.can_send());
        w.on_ack_sync(1);
        w.on_ack();
        assert!(w.can_send());
        assert_eq!(w.unacked(), 3);
    }

    #[test]
    fn ack_window_ignores_stale_generation() {
        let mut w = AckWindow::new(2, 1);
        for _ in 0..3 {
            w.on_sent();
        }
        assert!(!w.can_send());
        w.on_ack_sync(1);
        w.on_ack();
        assert!(!w.can_send());
        w.on_ack_sync(2);
        w.on_ack();
        assert!(w.can_send());
        w.reset(3, 1);
        assert_eq!(w.unacked(), 0);
        assert_eq!(w.generation(), 3);
        assert_eq!(w.set_ack_body(), set_ack(3, 1));
    }

    #[test]
    fn ack_window_zero_disables_and_acks_saturate() {
        let mut w = AckWindow::new(1, 0);
        for _ in 0..100 {
            w.on_sent();
        }
        assert!(w.can_send());
        let mut w = AckWindow::new(1, 5);
        w.on_ack_sync(1);
        w.on_ack();
        w.on_ack();
        assert_eq!(w.unacked(), 0);
        assert_eq!(w.window(), 5);
    }

    proptest! {
        #[test]
        fn common_parsers_never_panic(ty in 0u16..120, data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_common_client(ty, &data);
            let _ = SetAck::parse(&data);
            let _ = Ping::parse(&data);
            let _ = parse_wait_for_channels(&data);
            let _ = parse_list(&data);
        }
    }
}
