//! Our end of a connection QEMU opens to an object we serve (a display
//! or audio listener): a socket pair we made, one end handed to QEMU with
//! the registration call, D-Bus spoken on the other with no bus behind it.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use futures_util::StreamExt;
use zbus::message::{Flags, Header, Type};
use zbus::zvariant::OwnedValue;
use zbus::{Message, MessageStream};

use super::error::QemuError;

/// How long QEMU may take to open the connection, counted from before
/// the registration call is sent: that call's own limit plus the
/// handshake, which QEMU runs at once after replying.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Finishes the D-Bus handshake on `ours` within [`HANDSHAKE_TIMEOUT`].
/// We are the client of this link (QEMU authenticates us, EXTERNAL): no
/// Hello, no names. At most `max_queued` calls are read ahead of the one
/// being handled, so when we fall behind QEMU waits on the socket instead
/// of our memory growing (a display call may carry a whole frame).
pub(crate) async fn accept(
    ours: UnixStream,
    max_queued: usize,
) -> Result<zbus::Connection, QemuError> {
    let stream = ours
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(ours))
        .map_err(QemuError::Socket)?;
    let build = zbus::connection::Builder::unix_stream(stream)
        .p2p()
        .max_queued(max_queued)
        .build();
    tokio::time::timeout(HANDSHAKE_TIMEOUT, build)
        .await
        .map_err(|_| QemuError::Handshake(HANDSHAKE_TIMEOUT))?
        .map_err(QemuError::from)
}

/// What a served object answers to a call that did not fail.
pub(crate) enum Answer {
    /// An empty method return.
    Empty,
    /// An empty property list (`GetAll`): the listeners have no
    /// properties in 7.2's interfaces.
    NoProperties,
    /// An error of this name: an object or method we do not serve.
    Unknown(&'static str),
}

/// The next method call QEMU made, skipping other messages; `None` once
/// QEMU closed the connection (the socket closed under the reader).
/// Other errors end the connection: zbus cannot resynchronise a stream.
pub(crate) async fn next_call(
    messages: &mut MessageStream,
) -> Result<Option<Message>, zbus::Error> {
    while let Some(msg) = messages.next().await {
        match msg {
            Ok(msg) if msg.message_type() == Type::MethodCall => return Ok(Some(msg)),
            Ok(_) => {}
            Err(zbus::Error::InputOutput(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Answers the call of `header` with `answer`, or with InvalidArgs and
/// the reason when it failed; nothing when the call asked for no reply.
pub(crate) async fn reply<E: std::fmt::Display>(
    conn: &zbus::Connection,
    header: &Header<'_>,
    answer: &Result<Answer, E>,
) -> Result<(), zbus::Error> {
    if header.primary().flags().contains(Flags::NoReplyExpected) {
        return Ok(());
    }
    match answer {
        Ok(Answer::Empty) => conn.reply(header, &()).await,
        Ok(Answer::NoProperties) => {
            let none: HashMap<String, OwnedValue> = HashMap::new();
            conn.reply(header, &(none,)).await
        }
        Ok(Answer::Unknown(name)) => {
            conn.reply_error(header, *name, &"not implemented by spicebox")
                .await
        }
        Err(e) => {
            conn.reply_error(
                header,
                "org.freedesktop.DBus.Error.InvalidArgs",
                &e.to_string(),
            )
            .await
        }
    }
    .map(|_| ())
}
