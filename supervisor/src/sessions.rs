//! The registry of client sessions and their channel connections, shared by
//! the link stage (to admit channels), the main channel (to close a session)
//! and the control socket (to report).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use spicebox_ipc::ConnId;
use spicebox_protocol::consts::ChannelType;
use tokio_util::sync::CancellationToken;

use crate::channel_io::Counters;

/// One connected channel of a session.
#[derive(Debug, Clone)]
struct ChannelEntry {
    channel_type: ChannelType,
    channel_id: u8,
    peer: SocketAddr,
    conn: ConnId,
    sent: Arc<Counters>,
}

#[derive(Debug)]
struct SessionEntry {
    peer: SocketAddr,
    main_sent: Arc<Counters>,
    channels: Vec<ChannelEntry>,
    /// Cancelled when the session ends; every channel task watches it.
    ended: CancellationToken,
    /// What the main channel's network test measured.
    link: Option<LinkMeasure>,
}

/// The result of a session's network test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LinkMeasure {
    /// Round trip of an empty PING, microseconds.
    pub latency_us: u64,
    /// Throughput of the large PING, bits per second.
    pub bits_per_second: u64,
    /// Below the threshold where WAN codecs set to `auto` apply.
    pub low_bandwidth: bool,
}

/// What `ctl status` reports about a session.
#[derive(Debug, Serialize)]
pub struct SessionStatus {
    pub id: u32,
    pub peer: String,
    pub messages_sent: u64,
    pub bytes_sent: u64,
    pub link: Option<LinkMeasure>,
    pub channels: Vec<ChannelStatus>,
}

/// What `ctl status` reports about a channel.
#[derive(Debug, Serialize)]
pub struct ChannelStatus {
    #[serde(rename = "type")]
    pub channel_type: &'static str,
    pub id: u8,
    pub peer: String,
    pub conn: ConnId,
    pub messages_sent: u64,
    pub bytes_sent: u64,
}

/// All sessions of this server.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<HashMap<u32, SessionEntry>>,
}

/// Refusals from [`Sessions::add_channel`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdmitError {
    #[error("unknown session id {0:#x}")]
    NoSession(u32),
    #[error("channel {0} {1} is already connected in this session")]
    Duplicate(&'static str, u8),
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, SessionEntry>> {
        // A panic while holding the lock leaves plain data behind; keep
        // serving rather than poisoning every later connection.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a session with a fresh random non-zero id.
    pub fn create(&self, peer: SocketAddr, main_sent: Arc<Counters>) -> (u32, CancellationToken) {
        let mut map = self.lock();
        loop {
            let id: u32 = rand::random();
            if id == 0 || map.contains_key(&id) {
                continue;
            }
            let ended = CancellationToken::new();
            map.insert(
                id,
                SessionEntry {
                    peer,
                    main_sent,
                    channels: Vec::new(),
                    ended: ended.clone(),
                    link: None,
                },
            );
            return (id, ended);
        }
    }

    /// Whether a session exists.
    #[cfg(test)]
    pub fn exists(&self, id: u32) -> bool {
        self.lock().contains_key(&id)
    }

    /// Whether `(type, id)` may still join session `id`.
    pub fn can_add(
        &self,
        session: u32,
        channel_type: ChannelType,
        channel_id: u8,
    ) -> Result<(), AdmitError> {
        let map = self.lock();
        let entry = map.get(&session).ok_or(AdmitError::NoSession(session))?;
        if entry
            .channels
            .iter()
            .any(|c| c.channel_type == channel_type && c.channel_id == channel_id)
        {
            return Err(AdmitError::Duplicate(channel_type.name(), channel_id));
        }
        Ok(())
    }

    /// Adds a linked channel; returns the session's end token.
    pub fn add_channel(
        &self,
        session: u32,
        channel_type: ChannelType,
        channel_id: u8,
        peer: SocketAddr,
        conn: ConnId,
        sent: Arc<Counters>,
    ) -> Result<CancellationToken, AdmitError> {
        let mut map = self.lock();
        let entry = map
            .get_mut(&session)
            .ok_or(AdmitError::NoSession(session))?;
        if entry
            .channels
            .iter()
            .any(|c| c.channel_type == channel_type && c.channel_id == channel_id)
        {
            return Err(AdmitError::Duplicate(channel_type.name(), channel_id));
        }
        entry.channels.push(ChannelEntry {
            channel_type,
            channel_id,
            peer,
            conn,
            sent,
        });
        Ok(entry.ended.clone())
    }

    /// Removes a channel connection (it closed).
    pub fn remove_channel(&self, session: u32, conn: ConnId) {
        if let Some(entry) = self.lock().get_mut(&session) {
            entry.channels.retain(|c| c.conn != conn);
        }
    }

    /// Records the session's network test.
    pub fn set_link(&self, session: u32, link: LinkMeasure) {
        if let Some(entry) = self.lock().get_mut(&session) {
            entry.link = Some(link);
        }
    }

    /// Ends a session: every channel task of it stops.
    pub fn end(&self, session: u32) {
        if let Some(entry) = self.lock().remove(&session) {
            entry.ended.cancel();
        }
    }

    /// Snapshot for `ctl status`.
    pub fn status(&self) -> Vec<SessionStatus> {
        let map = self.lock();
        let mut out: Vec<SessionStatus> = map
            .iter()
            .map(|(id, s)| SessionStatus {
                id: *id,
                peer: s.peer.to_string(),
                messages_sent: s.main_sent.messages.load(Ordering::Relaxed),
                bytes_sent: s.main_sent.bytes.load(Ordering::Relaxed),
                link: s.link,
                channels: s
                    .channels
                    .iter()
                    .map(|c| ChannelStatus {
                        channel_type: c.channel_type.name(),
                        id: c.channel_id,
                        peer: c.peer.to_string(),
                        conn: c.conn,
                        messages_sent: c.sent.messages.load(Ordering::Relaxed),
                        bytes_sent: c.sent.bytes.load(Ordering::Relaxed),
                    })
                    .collect(),
            })
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:1234".parse().expect("addr")
    }

    #[test]
    fn channels_join_known_sessions_once() {
        let s = Sessions::default();
        let (id, ended) = s.create(peer(), Arc::default());
        assert_ne!(id, 0);
        assert!(s
            .add_channel(id, ChannelType::Display, 0, peer(), 1, Arc::default())
            .is_ok());
        assert_eq!(
            s.add_channel(id, ChannelType::Display, 0, peer(), 2, Arc::default())
                .err(),
            Some(AdmitError::Duplicate("display", 0))
        );
        assert_eq!(
            s.can_add(id ^ 1, ChannelType::Inputs, 0),
            Err(AdmitError::NoSession(id ^ 1))
        );
        assert_eq!(s.status()[0].channels.len(), 1);
        s.remove_channel(id, 1);
        assert!(s.can_add(id, ChannelType::Display, 0).is_ok());
        s.end(id);
        assert!(ended.is_cancelled());
        assert!(!s.exists(id));
    }
}
