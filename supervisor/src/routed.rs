//! Channels served by workers: the supervisor frames the client's messages
//! and hands them whole to the worker, and writes back what the worker sends.
//! It never parses a body.

use std::net::SocketAddr;
use std::sync::Arc;

use spicebox_ipc::{ChannelInfo, ConnId, ToWorker};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::channel_io::{read_message, spawn_writer, Counters, ReadError};
use crate::link::Linked;
use crate::server::Server;
use crate::workers::{ConnCommand, Worker};

/// Largest client message accepted on a worker channel. Display, cursor and
/// inputs clients send only small messages (the largest is a KEY_SCANCODE
/// string or a stream report).
const MAX_CHANNEL_MESSAGE: u32 = 64 * 1024;

/// Serves one linked non-main channel through `worker`.
pub async fn serve(
    server: &Server,
    worker: Arc<Worker>,
    stream: TcpStream,
    peer: SocketAddr,
    linked: Linked,
    conn: ConnId,
) {
    let session_id = linked.connection_id;
    let channel = linked.channel_type;
    let counters = Arc::new(Counters::default());
    let Ok(ended) = server.sessions.add_channel(
        session_id,
        channel,
        linked.channel_id,
        peer,
        conn,
        counters.clone(),
    ) else {
        // The session ended between admission and now.
        return;
    };
    let cancel = ended.child_token();
    let (mut reader, writer) = stream.into_split();
    let outbox = spawn_writer(writer, linked.header, cancel.clone(), counters);
    let (inbox_tx, mut inbox) = mpsc::channel::<ConnCommand>(64);
    let info = ChannelInfo {
        session_id,
        channel_type: channel.as_u8(),
        channel_id: linked.channel_id,
        common_caps: linked.client_common_caps.words().to_vec(),
        channel_caps: linked.client_channel_caps.words().to_vec(),
        server_channel_caps: linked.server_channel_caps.words().to_vec(),
        peer: peer.to_string(),
    };
    tracing::info!(%peer, session = session_id, channel = channel.name(), id = linked.channel_id, conn, "channel up");
    let reason = if worker.open_channel(conn, inbox_tx, info).await.is_err() {
        Some(format!("{} worker is not running", worker.role.name()))
    } else {
        let kind = linked.header;
        let to_worker = worker.clone();
        let read_loop = async move {
            loop {
                match read_message(&mut reader, kind, MAX_CHANNEL_MESSAGE).await {
                    Ok(m) => {
                        let msg = ToWorker::ClientMessage {
                            conn,
                            msg_type: m.msg_type,
                            body: m.body,
                        };
                        if to_worker.send(msg).await.is_err() {
                            return Some("worker is not running".to_string());
                        }
                    }
                    Err(ReadError::Closed) => return None,
                    Err(e) => return Some(e.to_string()),
                }
            }
        };
        let write_loop = async {
            while let Some(cmd) = inbox.recv().await {
                match cmd {
                    ConnCommand::Send(batch) => {
                        if outbox.send(batch).await.is_err() {
                            return None;
                        }
                    }
                    ConnCommand::Close(why) => return Some(why),
                }
            }
            None
        };
        tokio::select! {
            r = read_loop => r,
            r = write_loop => r,
            _ = cancel.cancelled() => None,
        }
    };
    match &reason {
        Some(reason) => {
            tracing::warn!(%peer, session = session_id, channel = channel.name(), conn, %reason, "channel closed")
        }
        None => {
            tracing::info!(%peer, session = session_id, channel = channel.name(), conn, "channel closed")
        }
    }
    worker.close_channel(conn).await;
    server.sessions.remove_channel(session_id, conn);
    cancel.cancel();
}
