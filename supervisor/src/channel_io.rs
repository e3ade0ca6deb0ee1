//! Framing of authenticated channel connections: reading whole client
//! messages under a size limit, and a writer task that puts headers (mini or
//! full, with serials) on the worker's and main channel's messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use spicebox_ipc::OutMessage;
use spicebox_protocol::header::{HeaderKind, MsgHeader};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How many batches may wait for a slow client before the producer waits.
const WRITE_QUEUE: usize = 64;

/// Errors while reading a client's messages.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("client closed the connection")]
    Closed,
    #[error("i/o error: {0}")]
    Io(std::io::Error),
    #[error("malformed message header: {0}")]
    Header(String),
    #[error("message of {size} bytes exceeds this channel's limit of {limit}")]
    TooLarge { size: u32, limit: u32 },
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
                ReadError::Closed
            }
            _ => ReadError::Io(e),
        }
    }
}

/// One client message, header removed.
pub struct ClientMessage {
    pub msg_type: u16,
    pub body: Vec<u8>,
}

/// Reads one message, refusing bodies larger than `limit` before allocating.
pub async fn read_message(
    r: &mut OwnedReadHalf,
    kind: HeaderKind,
    limit: u32,
) -> Result<ClientMessage, ReadError> {
    let mut head = [0u8; 18];
    let head = &mut head[..kind.size()];
    r.read_exact(head).await?;
    let header = MsgHeader::parse(kind, head).map_err(|e| ReadError::Header(e.to_string()))?;
    if kind == HeaderKind::Full && header.sub_list != 0 {
        return Err(ReadError::Header("client sent a sub-message list".into()));
    }
    if header.size > limit {
        return Err(ReadError::TooLarge {
            size: header.size,
            limit,
        });
    }
    let mut body = vec![0u8; header.size as usize];
    r.read_exact(&mut body).await?;
    Ok(ClientMessage {
        msg_type: header.msg_type,
        body,
    })
}

/// What a connection has sent, for `ctl status` and benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
}

/// Sending side of a connection's writer task.
pub type Outbox = mpsc::Sender<Vec<OutMessage>>;

/// Starts the task that owns the write half. It ends, cancelling `cancel`,
/// when the client stops accepting bytes, and stops writing once `cancel`
/// fires.
pub fn spawn_writer(
    w: OwnedWriteHalf,
    kind: HeaderKind,
    cancel: CancellationToken,
    counters: Arc<Counters>,
) -> Outbox {
    let (tx, mut rx) = mpsc::channel::<Vec<OutMessage>>(WRITE_QUEUE);
    tokio::spawn(async move {
        let mut w = BufWriter::with_capacity(64 * 1024, w);
        let mut serial: u64 = 0;
        let mut head = Vec::with_capacity(18);
        loop {
            // Queued messages go out before a cancellation is honoured, so
            // that a final NOTIFY reaches the client.
            let batch = tokio::select! {
                biased;
                batch = rx.recv() => match batch {
                    Some(b) => b,
                    None => break,
                },
                _ = cancel.cancelled() => break,
            };
            let result: std::io::Result<()> = async {
                for m in &batch {
                    serial += 1;
                    let Ok(size) = u32::try_from(m.body.len()) else {
                        return Err(std::io::Error::other("message body over 4 GiB"));
                    };
                    head.clear();
                    MsgHeader::write(kind, serial, m.msg_type, size, &mut head);
                    w.write_all(&head).await?;
                    w.write_all(&m.body).await?;
                    counters.messages.fetch_add(1, Ordering::Relaxed);
                    counters
                        .bytes
                        .fetch_add((head.len() + m.body.len()) as u64, Ordering::Relaxed);
                }
                w.flush().await
            }
            .await;
            if let Err(error) = result {
                tracing::debug!(%error, "client write failed");
                break;
            }
        }
        cancel.cancel();
        let _ = w.shutdown().await;
    });
    tx
}
