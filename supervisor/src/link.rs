//! The SPICE link stage: the only code that reads bytes from a peer that has
//! not yet authenticated. It runs under the caller's time limit, reads
//! exactly the sizes the protocol allows, and answers every refusal with the
//! SPICE link error the client expects.

use spicebox_protocol::caps::Caps;
use spicebox_protocol::consts::{
    common_cap, display_cap, inputs_cap, main_cap, ChannelType, LinkErr, AUTH_MECH_SPICE,
    TICKET_CIPHERTEXT_SIZE, TICKET_PUBKEY_BYTES,
};
use spicebox_protocol::header::HeaderKind;
use spicebox_protocol::link::{link_result, LinkHeader, LinkMess, LinkReply, LINK_HEADER_SIZE};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::ticket::{password_matches, KeyPool, TicketError};

/// Why a link was refused; the text goes to the log with the peer.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("invalid magic {0:#010x}")]
    InvalidMagic(u32),
    #[error("protocol version {0} is not supported")]
    VersionMismatch(u32),
    #[error("link message size {0} is out of range")]
    BadSize(u32),
    #[error("malformed link message: {0}")]
    Malformed(String),
    #[error("unknown channel type {0}")]
    UnknownChannelType(u8),
    #[error("channel {0} {1} is not served")]
    ChannelNotAvailable(&'static str, u8),
    #[error("unknown session id {0:#x}")]
    BadConnectionId(u32),
    #[error("client asked for auth mechanism {0}, only SPICE tickets are offered")]
    BadAuthMechanism(u32),
    #[error("authentication failed: {0}")]
    Auth(TicketError),
    #[error("connection closed during the link stage")]
    Closed,
    #[error("i/o error during the link stage: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Refusal::Closed
        } else {
            Refusal::Io(e)
        }
    }
}

/// What a successful link established.
#[derive(Debug, Clone)]
pub struct Linked {
    pub channel_type: ChannelType,
    pub channel_id: u8,
    /// 0 for a new session's main channel, else the session id.
    pub connection_id: u32,
    pub header: HeaderKind,
    pub client_common_caps: Caps,
    pub client_channel_caps: Caps,
    pub server_channel_caps: Caps,
}

/// The server's decisions the link stage needs.
pub trait LinkPolicy {
    /// `None`: ticketing disabled.
    fn password(&self) -> Option<&[u8]>;
    /// Whether `(type, id)` is served for `connection_id` (0 = new main).
    fn admit(
        &self,
        channel: ChannelType,
        channel_id: u8,
        connection_id: u32,
    ) -> Result<(), Refusal>;
}

fn server_common_caps() -> Caps {
    Caps::with(&[
        common_cap::AUTH_SELECTION,
        common_cap::AUTH_SPICE,
        common_cap::MINI_HEADER,
    ])
}

/// Channel capabilities spicebox offers per channel type.
pub fn server_channel_caps(channel: ChannelType) -> Caps {
    match channel {
        ChannelType::Main => Caps::with(&[main_cap::NAME_AND_UUID]),
        ChannelType::Display => {
            Caps::with(&[display_cap::MONITORS_CONFIG, display_cap::PREF_COMPRESSION])
        }
        ChannelType::Inputs => Caps::with(&[inputs_cap::KEY_SCANCODE]),
        _ => Caps::new(),
    }
}

/// Runs the link stage on `stream`. On refusal the client has already been
/// told why (where the protocol gives a way to say it).
pub async fn run<S>(
    stream: &mut S,
    policy: &impl LinkPolicy,
    keys: &KeyPool,
) -> Result<Linked, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = [0u8; LINK_HEADER_SIZE];
    stream.read_exact(&mut head).await?;
    let header = LinkHeader::parse(&head);
    if let Err(err) = header.check() {
        let _ = stream.write_all(&LinkReply::error_only(err)).await;
        return Err(match err {
            LinkErr::InvalidMagic => Refusal::InvalidMagic(header.magic),
            LinkErr::VersionMismatch => Refusal::VersionMismatch(header.major),
            _ => Refusal::BadSize(header.size),
        });
    }
    // check() bounds size to MAX_LINK_MESS_SIZE, so this allocation is small.
    let mut body = vec![0u8; header.size as usize];
    stream.read_exact(&mut body).await?;
    let mess = match LinkMess::parse(&body) {
        Ok(m) => m,
        Err(e) => {
            let _ = stream
                .write_all(&LinkReply::error_only(LinkErr::InvalidData))
                .await;
            return Err(Refusal::Malformed(e.to_string()));
        }
    };
    let channel = match ChannelType::try_from(mess.channel_type) {
        Ok(c) if c != ChannelType::Tunnel => c,
        _ => {
            let _ = stream
                .write_all(&LinkReply::error_only(LinkErr::ChannelNotAvailable))
                .await;
            return Err(Refusal::UnknownChannelType(mess.channel_type));
        }
    };

    let key = keys.take().await.map_err(Refusal::Auth)?;
    let server_channel_caps = server_channel_caps(channel);
    let mut pub_key = key.public_der.clone();
    pub_key.resize(TICKET_PUBKEY_BYTES, 0);
    let reply = LinkReply {
        error: LinkErr::Ok,
        pub_key,
        common_caps: server_common_caps(),
        channel_caps: server_channel_caps.clone(),
    };
    let reply = reply
        .to_bytes()
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    stream.write_all(&reply).await?;

    if mess.common_caps.has(common_cap::AUTH_SELECTION) {
        let mechanism = stream.read_u32_le().await?;
        if mechanism != AUTH_MECH_SPICE {
            let _ = stream.write_all(&link_result(LinkErr::InvalidData)).await;
            return Err(Refusal::BadAuthMechanism(mechanism));
        }
    }
    let mut ticket = [0u8; TICKET_CIPHERTEXT_SIZE];
    stream.read_exact(&mut ticket).await?;
    let checked = tokio::task::spawn_blocking(move || key.decrypt(&ticket))
        .await
        .map_err(|e| Refusal::Io(std::io::Error::other(e)))?;
    if let Some(expected) = policy.password() {
        let verdict = checked.and_then(|given| {
            if password_matches(expected, &given) {
                Ok(())
            } else {
                Err(TicketError::WrongPassword)
            }
        });
        if let Err(e) = verdict {
            let _ = stream
                .write_all(&link_result(LinkErr::PermissionDenied))
                .await;
            return Err(Refusal::Auth(e));
        }
    }

    if let Err(refusal) = policy.admit(channel, mess.channel_id, mess.connection_id) {
        let err = match refusal {
            Refusal::BadConnectionId(_) => LinkErr::BadConnectionId,
            _ => LinkErr::ChannelNotAvailable,
        };
        let _ = stream.write_all(&link_result(err)).await;
        return Err(refusal);
    }
    stream.write_all(&link_result(LinkErr::Ok)).await?;

    let header = if mess.common_caps.has(common_cap::MINI_HEADER) {
        HeaderKind::Mini
    } else {
        HeaderKind::Full
    };
    Ok(Linked {
        channel_type: channel,
        channel_id: mess.channel_id,
        connection_id: mess.connection_id,
        header,
        client_common_caps: mess.common_caps,
        client_channel_caps: mess.channel_caps,
        server_channel_caps,
    })
}
