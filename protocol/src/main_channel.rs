//! Main channel (type 1): session setup, channel list, mouse mode, agent transport.

use crate::consts::{msg::main_cli as cli, LinkErr};
use crate::wire::{Reader, WireError, Writer};

/// Mouse mode flag: the server draws the pointer, the client sends relative motion.
pub const MOUSE_MODE_SERVER: u16 = 1;
/// Mouse mode flag: the client draws the pointer, the client sends absolute positions.
pub const MOUSE_MODE_CLIENT: u16 = 2;

/// Body size of MAIN_INIT.
pub const MAIN_INIT_SIZE: usize = 32;

/// MAIN_INIT: the session parameters sent right after the link completes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MainInit {
    /// Non-zero connection id every later link must carry.
    pub session_id: u32,
    /// Number of displays.
    pub display_channels_hint: u32,
    /// `MOUSE_MODE_*` flags the server allows.
    pub supported_mouse_modes: u32,
    /// The mode in force.
    pub current_mouse_mode: u32,
    /// 1 if an agent is connected.
    pub agent_connected: u32,
    /// AGENT_DATA messages the client may send before it needs AGENT_TOKEN.
    pub agent_tokens: u32,
    /// Server multimedia clock, ms.
    pub multi_media_time: u32,
    /// Guest RAM hint; spice-gtk sizes its GLZ window from it.
    pub ram_hint: u32,
}

impl MainInit {
    /// The 32-byte body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(MAIN_INIT_SIZE);
        w.u32(self.session_id)
            .u32(self.display_channels_hint)
            .u32(self.supported_mouse_modes)
            .u32(self.current_mouse_mode)
            .u32(self.agent_connected)
            .u32(self.agent_tokens)
            .u32(self.multi_media_time)
            .u32(self.ram_hint);
        w.into_vec()
    }

    /// Parses the body (client side).
    pub fn parse(body: &[u8]) -> Result<MainInit, WireError> {
        let mut r = Reader::named(body, "main init");
        let init = MainInit {
            session_id: r.u32()?,
            display_channels_hint: r.u32()?,
            supported_mouse_modes: r.u32()?,
            current_mouse_mode: r.u32()?,
            agent_connected: r.u32()?,
            agent_tokens: r.u32()?,
            multi_media_time: r.u32()?,
            ram_hint: r.u32()?,
        };
        r.finish()?;
        Ok(init)
    }
}

/// CHANNELS_LIST body from `(channel type, channel id)` pairs.
pub fn channels_list(channels: &[(u8, u8)]) -> Vec<u8> {
    let mut w = Writer::with_capacity(4 + 2 * channels.len());
    w.u32(u32::try_from(channels.len()).unwrap_or(u32::MAX));
    for &(ty, id) in channels {
        w.u8(ty).u8(id);
    }
    w.into_vec()
}

/// Parses CHANNELS_LIST into `(channel type, channel id)` pairs (client side).
pub fn parse_channels_list(body: &[u8]) -> Result<Vec<(u8, u8)>, WireError> {
    let mut r = Reader::named(body, "channels list");
    let n = r.u32()?;
    // Check the length up front so a lying count cannot make us reserve memory.
    let need = (n as usize).saturating_mul(2);
    if r.remaining() != need {
        return Err(if r.remaining() < need {
            WireError::Truncated {
                what: "channels list",
                need,
                have: r.remaining(),
            }
        } else {
            WireError::TrailingBytes {
                what: "channels list",
                count: r.remaining() - need,
            }
        });
    }
    (0..n).map(|_| Ok((r.u8()?, r.u8()?))).collect()
}

/// MOUSE_MODE body.
pub fn mouse_mode(supported: u16, current: u16) -> Vec<u8> {
    let mut w = Writer::with_capacity(4);
    w.u16(supported).u16(current);
    w.into_vec()
}

/// Parses MOUSE_MODE into `(supported, current)` (client side).
pub fn parse_mouse_mode(body: &[u8]) -> Result<(u16, u16), WireError> {
    let mut r = Reader::named(body, "mouse mode");
    let v = (r.u16()?, r.u16()?);
    r.finish()?;
    Ok(v)
}

/// NAME body: u32 length including the NUL, then the name and a NUL.
pub fn name(name: &str) -> Vec<u8> {
    // Leave room for the NUL inside the u32 length.
    let all = name.as_bytes();
    let bytes = all
        .get(..all.len().min(u32::MAX as usize - 1))
        .unwrap_or(all);
    let mut w = Writer::with_capacity(4 + bytes.len() + 1);
    w.u32(u32::try_from(bytes.len() + 1).unwrap_or(u32::MAX))
        .bytes(bytes)
        .u8(0);
    w.into_vec()
}

/// UUID body.
pub fn uuid(uuid: &[u8; 16]) -> Vec<u8> {
    uuid.to_vec()
}

/// MULTI_MEDIA_TIME body.
pub fn multi_media_time(time: u32) -> Vec<u8> {
    time.to_le_bytes().to_vec()
}

/// AGENT_DISCONNECTED body.
pub fn agent_disconnected(error: LinkErr) -> Vec<u8> {
    error.as_u32().to_le_bytes().to_vec()
}

/// AGENT_TOKEN body: more AGENT_DATA messages the client may send.
pub fn agent_token(tokens: u32) -> Vec<u8> {
    tokens.to_le_bytes().to_vec()
}

/// AGENT_CONNECTED_TOKENS body (only for clients with the cap).
pub fn agent_connected_tokens(tokens: u32) -> Vec<u8> {
    tokens.to_le_bytes().to_vec()
}

/// A client→server main channel message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MainClientMsg {
    /// CLIENT_INFO (unused by spice-gtk).
    ClientInfo {
        /// Client cache size.
        cache_size: u64,
    },
    /// MIGRATE_CONNECTED.
    MigrateConnected,
    /// MIGRATE_CONNECT_ERROR.
    MigrateConnectError,
    /// ATTACH_CHANNELS: answer with CHANNELS_LIST.
    AttachChannels,
    /// MOUSE_MODE_REQUEST.
    MouseModeRequest {
        /// Requested `MOUSE_MODE_*`.
        mode: u16,
    },
    /// AGENT_START.
    AgentStart {
        /// AGENT_DATA messages the server may send.
        tokens: u32,
    },
    /// AGENT_DATA: a slice of the agent byte stream.
    AgentData(Vec<u8>),
    /// AGENT_TOKEN.
    AgentToken {
        /// More AGENT_DATA messages the server may send.
        tokens: u32,
    },
    /// MIGRATE_END.
    MigrateEnd,
    /// MIGRATE_DST_DO_SEAMLESS.
    MigrateDstDoSeamless {
        /// Source migration protocol version.
        src_version: u32,
    },
    /// MIGRATE_CONNECTED_SEAMLESS.
    MigrateConnectedSeamless,
    /// QUALITY_INDICATOR, kept raw: its layout is newer than the spice.proto we follow.
    QualityIndicator(Vec<u8>),
}

fn u32_body(body: &[u8], what: &'static str) -> Result<u32, WireError> {
    let mut r = Reader::named(body, what);
    let v = r.u32()?;
    r.finish()?;
    Ok(v)
}

fn empty(body: &[u8], what: &'static str) -> Result<(), WireError> {
    Reader::named(body, what).finish()
}

/// Parses a main channel client message (types 101+; common types go to `common::parse_common_client`).
pub fn parse_main_client(msg_type: u16, body: &[u8]) -> Result<MainClientMsg, WireError> {
    Ok(match msg_type {
        cli::CLIENT_INFO => {
            let mut r = Reader::named(body, "client info");
            let cache_size = r.u64()?;
            r.finish()?;
            MainClientMsg::ClientInfo { cache_size }
        }
        cli::MIGRATE_CONNECTED => {
            empty(body, "migrate connected")?;
            MainClientMsg::MigrateConnected
        }
        cli::MIGRATE_CONNECT_ERROR => {
            empty(body, "migrate connect error")?;
            MainClientMsg::MigrateConnectError
        }
        cli::ATTACH_CHANNELS => {
            empty(body, "attach channels")?;
            MainClientMsg::AttachChannels
        }
        cli::MOUSE_MODE_REQUEST => {
            let mut r = Reader::named(body, "mouse mode request");
            let mode = r.u16()?;
            r.finish()?;
            MainClientMsg::MouseModeRequest { mode }
        }
        cli::AGENT_START => MainClientMsg::AgentStart {
            tokens: u32_body(body, "agent start")?,
        },
        cli::AGENT_DATA => MainClientMsg::AgentData(body.to_vec()),
        cli::AGENT_TOKEN => MainClientMsg::AgentToken {
            tokens: u32_body(body, "agent token")?,
        },
        cli::MIGRATE_END => {
            empty(body, "migrate end")?;
            MainClientMsg::MigrateEnd
        }
        cli::MIGRATE_DST_DO_SEAMLESS => MainClientMsg::MigrateDstDoSeamless {
            src_version: u32_body(body, "migrate dst do seamless")?,
        },
        cli::MIGRATE_CONNECTED_SEAMLESS => {
            empty(body, "migrate connected seamless")?;
            MainClientMsg::MigrateConnectedSeamless
        }
        cli::QUALITY_INDICATOR => MainClientMsg::QualityIndicator(body.to_vec()),
        t => {
            return Err(WireError::Invalid {
                what: "main message type",
                value: u64::from(t),
            })
        }
    })
}

impl MainClientMsg {
    /// Message type and body, as a client would send them (for the test client).
    pub fn to_body(&self) -> (u16, Vec<u8>) {
        match self {
            MainClientMsg::ClientInfo { cache_size } => {
                (cli::CLIENT_INFO, cache_size.to_le_bytes().to_vec())
            }
            MainClientMsg::MigrateConnected => (cli::MIGRATE_CONNECTED, Vec::new()),
            MainClientMsg::MigrateConnectError => (cli::MIGRATE_CONNECT_ERROR, Vec::new()),
            MainClientMsg::AttachChannels => (cli::ATTACH_CHANNELS, Vec::new()),
            MainClientMsg::MouseModeRequest { mode } => {
                (cli::MOUSE_MODE_REQUEST, mode.to_le_bytes().to_vec())
            }
            MainClientMsg::AgentStart { tokens } => {
                (cli::AGENT_START, tokens.to_le_bytes().to_vec())
            }
            MainClientMsg::AgentData(d) => (cli::AGENT_DATA, d.clone()),
            MainClientMsg::AgentToken { tokens } => {
                (cli::AGENT_TOKEN, tokens.to_le_bytes().to_vec())
            }
            MainClientMsg::MigrateEnd => (cli::MIGRATE_END, Vec::new()),
            MainClientMsg::MigrateDstDoSeamless { src_version } => (
                cli::MIGRATE_DST_DO_SEAMLESS,
                src_version.to_le_bytes().to_vec(),
            ),
            MainClientMsg::MigrateConnectedSeamless => {
                (cli::MIGRATE_CONNECTED_SEAMLESS, Vec::new())
            }
            MainClientMsg::QualityIndicator(d) => (cli::QUALITY_INDICATOR, d.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_msgs() -> Vec<MainClientMsg> {
        vec![
            MainClientMsg::ClientInfo {
                cache_size: 1 << 33,
            },
            MainClientMsg::MigrateConnected,
            MainClientMsg::MigrateConnectError,
            MainClientMsg::AttachChannels,
            MainClientMsg::MouseModeRequest {
                mode: MOUSE_MODE_CLIENT,
            },
            MainClientMsg::AgentStart { tokens: u32::MAX },
            MainClientMsg::AgentData(vec![1, 0, 0, 0, 6]),
            MainClientMsg::AgentToken { tokens: 10 },
            MainClientMsg::MigrateEnd,
            MainClientMsg::MigrateDstDoSeamless { src_version: 2 },
            MainClientMsg::MigrateConnectedSeamless,
            MainClientMsg::QualityIndicator(b"q".to_vec()),
        ]
    }

    #[test]
    fn init_layout_and_round_trip() {
        let init = MainInit {
            session_id: 0x1234,
            display_channels_hint: 1,
            supported_mouse_modes: 3,
            current_mouse_mode: 1,
            agent_connected: 0,
            agent_tokens: 10,
            multi_media_time: 1000,
            ram_hint: 0,
        };
        let b = init.to_bytes();
        assert_eq!(b.len(), 32);
        assert_eq!(&b[..4], &0x1234u32.to_le_bytes());
        assert_eq!(&b[20..24], &10u32.to_le_bytes());
        assert_eq!(MainInit::parse(&b), Ok(init));
        for n in 0..b.len() {
            assert!(matches!(
                MainInit::parse(&b[..n]),
                Err(WireError::Truncated { .. })
            ));
        }
        let mut long = b.clone();
        long.push(0);
        assert!(matches!(
            MainInit::parse(&long),
            Err(WireError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn channels_list_round_trip() {
        let ch = [(1u8, 0u8), (2, 0), (3, 0), (4, 0), (2, 1)];
        let b = channels_list(&ch);
        assert_eq!(b.len(), 4 + 10);
        assert_eq!(&b[..4], &5u32.to_le_bytes());
        assert_eq!(&b[4..6], &[1, 0]);
        assert_eq!(parse_channels_list(&b), Ok(ch.to_vec()));
        for n in 0..b.len() {
            assert!(matches!(
                parse_channels_list(&b[..n]),
                Err(WireError::Truncated { .. })
            ));
        }
        let mut long = b;
        long.push(9);
        assert!(matches!(
            parse_channels_list(&long),
            Err(WireError::TrailingBytes { .. })
        ));
        assert_eq!(parse_channels_list(&channels_list(&[])), Ok(vec![]));
    }

    #[test]
    fn channels_list_lying_count() {
        let b = [0xff, 0xff, 0xff, 0xff, 1, 0];
        assert!(matches!(
            parse_channels_list(&b),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn small_bodies() {
        assert_eq!(mouse_mode(3, 2), vec![3, 0, 2, 0]);
        assert_eq!(parse_mouse_mode(&mouse_mode(3, 2)), Ok((3, 2)));
        assert!(parse_mouse_mode(&[3, 0, 2]).is_err());
        assert_eq!(name("vm"), vec![3, 0, 0, 0, b'v', b'm', 0]);
        assert_eq!(name(""), vec![1, 0, 0, 0, 0]);
        let id = [7u8; 16];
        assert_eq!(uuid(&id), id.to_vec());
        assert_eq!(multi_media_time(0x0102_0304), vec![4, 3, 2, 1]);
        assert_eq!(agent_disconnected(LinkErr::Error), vec![1, 0, 0, 0]);
        assert_eq!(agent_token(5), vec![5, 0, 0, 0]);
        assert_eq!(agent_connected_tokens(6), vec![6, 0, 0, 0]);
    }

    #[test]
    fn client_messages_round_trip() {
        for m in all_msgs() {
            let (ty, body) = m.to_body();
            assert_eq!(parse_main_client(ty, &body), Ok(m));
        }
    }

    #[test]
    fn client_fixed_messages_truncated_and_trailing() {
        for m in all_msgs() {
            let (ty, body) = m.to_body();
            if matches!(
                m,
                MainClientMsg::AgentData(_) | MainClientMsg::QualityIndicator(_)
            ) {
                continue;
            }
            for n in 0..body.len() {
                assert!(matches!(
                    parse_main_client(ty, &body[..n]),
                    Err(WireError::Truncated { .. })
                ));
            }
            let mut long = body.clone();
            long.push(0);
            assert!(
                matches!(
                    parse_main_client(ty, &long),
                    Err(WireError::TrailingBytes { .. })
                ),
                "{m:?} accepted a trailing byte"
            );
        }
    }

    #[test]
    fn unknown_type() {
        assert_eq!(
            parse_main_client(3, &[]),
            Err(WireError::Invalid {
                what: "main message type",
                value: 3
            })
        );
        assert!(parse_main_client(113, &[]).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(ty in 95u16..120, data in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = parse_main_client(ty, &data);
            let _ = MainInit::parse(&data);
            let _ = parse_channels_list(&data);
            let _ = parse_mouse_mode(&data);
        }
    }
}
