//! Length-prefixed bincode frames.

use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::sync::Arc;

use bincode::{Decode, Encode};
use interprocess::os::unix::uds_local_socket as uds;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest frame either side accepts. A frame carries at most one
/// screendump or a batch of draw messages for one client; 128 MiB covers a
/// 4096x4096 32-bit picture with room to spare, and stops a hostile peer from
/// making us allocate more.
pub const MAX_FRAME_SIZE: u32 = 128 * 1024 * 1024;

/// Errors on an IPC link.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// The peer closed its end.
    #[error("peer closed the connection")]
    Closed,
    /// Reading or writing the socket failed.
    #[error("ipc i/o failed")]
    Io(#[from] io::Error),
    /// The peer announced a frame larger than [`MAX_FRAME_SIZE`].
    #[error("frame of {size} bytes exceeds the limit of {MAX_FRAME_SIZE}")]
    FrameTooLarge {
        /// Announced size.
        size: u32,
    },
    /// The frame did not decode as the expected message type.
    #[error("malformed message")]
    Decode(#[from] bincode::error::DecodeError),
    /// The message could not be encoded.
    #[error("message could not be encoded")]
    Encode(#[from] bincode::error::EncodeError),
    /// A frame decoded but left bytes over.
    #[error("{0} trailing bytes after message")]
    Trailing(usize),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_limit::<{ MAX_FRAME_SIZE as usize }>()
}

/// Encodes one message with its length prefix.
pub fn encode<T: Encode>(msg: &T) -> Result<Vec<u8>, IpcError> {
    let mut out = vec![0u8; 4];
    bincode::encode_into_std_write(msg, &mut out, config())?;
    let len = out.len() - 4;
    let len = u32::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_FRAME_SIZE)
        .ok_or(IpcError::FrameTooLarge {
            size: u32::try_from(len).unwrap_or(u32::MAX),
        })?;
    out[..4].copy_from_slice(&len.to_le_bytes());
    Ok(out)
}

/// Decodes one frame body (without its length prefix).
pub fn decode<T: Decode<()>>(body: &[u8]) -> Result<T, IpcError> {
    let (msg, used) = bincode::decode_from_slice(body, config())?;
    if used != body.len() {
        return Err(IpcError::Trailing(body.len() - used));
    }
    Ok(msg)
}

fn check_len(prefix: [u8; 4]) -> Result<usize, IpcError> {
    let size = u32::from_le_bytes(prefix);
    if size > MAX_FRAME_SIZE {
        return Err(IpcError::FrameTooLarge { size });
    }
    Ok(size as usize)
}

fn eof_is_closed(e: io::Error) -> IpcError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        IpcError::Closed
    } else {
        IpcError::Io(e)
    }
}

/// Blocking sending side.
pub struct SyncSender<T> {
    inner: Arc<uds::Stream>,
    _msg: PhantomData<fn(T)>,
}

impl<T> SyncSender<T> {
    pub(crate) fn new(inner: Arc<uds::Stream>) -> Self {
        Self {
            inner,
            _msg: PhantomData,
        }
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &T) -> Result<(), IpcError>
    where
        T: Encode,
    {
        let frame = encode(msg)?;
        (&*self.inner).write_all(&frame)?;
        Ok(())
    }
}

/// Blocking receiving side.
pub struct SyncReceiver<T> {
    inner: Arc<uds::Stream>,
    _msg: PhantomData<fn() -> T>,
}

impl<T> SyncReceiver<T> {
    pub(crate) fn new(inner: Arc<uds::Stream>) -> Self {
        Self {
            inner,
            _msg: PhantomData,
        }
    }

    /// Receives one message; [`IpcError::Closed`] at a clean end of stream.
    pub fn recv(&mut self) -> Result<T, IpcError>
    where
        T: Decode<()>,
    {
        let mut prefix = [0u8; 4];
        (&*self.inner)
            .read_exact(&mut prefix)
            .map_err(eof_is_closed)?;
        let len = check_len(prefix)?;
        let mut body = vec![0u8; len];
        (&*self.inner)
            .read_exact(&mut body)
            .map_err(eof_is_closed)?;
        decode(&body)
    }
}

/// Tokio sending side.
pub struct AsyncSender<T> {
    inner: Arc<uds::tokio::Stream>,
    _msg: PhantomData<fn(T)>,
}

impl<T> AsyncSender<T> {
    pub(crate) fn new(inner: Arc<uds::tokio::Stream>) -> Self {
        Self {
            inner,
            _msg: PhantomData,
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &T) -> Result<(), IpcError>
    where
        T: Encode,
    {
        let frame = encode(msg)?;
        (&*self.inner).write_all(&frame).await?;
        Ok(())
    }
}

/// Tokio receiving side.
pub struct AsyncReceiver<T> {
    inner: Arc<uds::tokio::Stream>,
    _msg: PhantomData<fn() -> T>,
}

impl<T> AsyncReceiver<T> {
    pub(crate) fn new(inner: Arc<uds::tokio::Stream>) -> Self {
        Self {
            inner,
            _msg: PhantomData,
        }
    }

    /// Receives one message; [`IpcError::Closed`] at a clean end of stream.
    pub async fn recv(&mut self) -> Result<T, IpcError>
    where
        T: Decode<()>,
    {
        let mut prefix = [0u8; 4];
        (&*self.inner)
            .read_exact(&mut prefix)
            .await
            .map_err(eof_is_closed)?;
        let len = check_len(prefix)?;
        let mut body = vec![0u8; len];
        (&*self.inner)
            .read_exact(&mut body)
            .await
            .map_err(eof_is_closed)?;
        decode(&body)
    }
}
