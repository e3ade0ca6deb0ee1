//! The inputs channel worker: validates every keyboard and mouse message a
//! client sends, translates it into host-neutral [`InputEvent`]s, keeps the
//! client's motion flow control going (MOUSE_MOTION_ACK) and mirrors the
//! host's keyboard LEDs back to the client.

pub mod seccomp;
mod translate;

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use spicebox_ipc::{ConnId, FromWorker, IpcError, OutMessage, ResumeState, SyncSender, ToWorker};
use spicebox_protocol::consts::msg::{common_cli, inputs_srv};
use spicebox_protocol::consts::ChannelType;
use spicebox_protocol::consts::INPUT_MOTION_ACK_BUNCH;
use spicebox_protocol::inputs::{self, ScancodeDecoder};

pub use translate::{translate, Translated};

/// Errors that stop the worker.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// The supervisor link failed.
    #[error("supervisor link failed")]
    Ipc(#[from] IpcError),
    /// The sandbox could not be completed.
    #[error("cannot lock down the worker: {0}")]
    LockDown(String),
}

/// One client's inputs channel.
struct Conn {
    session_id: u32,
    /// Motion messages received since the last MOUSE_MOTION_ACK.
    motions: u32,
    /// Scancode prefix state carried between key messages.
    keys: ScancodeDecoder,
    peer: String,
}

struct Worker {
    tx: SyncSender<FromWorker>,
    conns: HashMap<ConnId, Conn>,
    leds: u16,
    test_hooks: bool,
}

/// Runs the worker until the supervisor closes the link. `lock_down`
/// installs the seccomp filter before anything is read from a peer;
/// `test_hooks` makes it honour [`spicebox_ipc::ToWorker::InjectFault`].
pub fn run(
    ipc: OwnedFd,
    test_hooks: bool,
    lock_down: impl FnOnce() -> Result<(), String>,
) -> Result<(), InputsError> {
    let (tx, mut rx) = spicebox_ipc::split_sync::<FromWorker, ToWorker>(ipc);
    lock_down().map_err(InputsError::LockDown)?;
    let mut worker = Worker {
        tx,
        conns: HashMap::new(),
        leds: 0,
        test_hooks,
    };
    loop {
        let msg = match rx.recv() {
            Ok(m) => m,
            Err(IpcError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        worker.handle(msg)?;
    }
}

impl Worker {
    fn send(&mut self, conn: ConnId, messages: Vec<OutMessage>) -> Result<(), IpcError> {
        self.tx.send(&FromWorker::Send {
            conn,
            messages,
            state: None,
        })
    }

    fn handle(&mut self, msg: ToWorker) -> Result<(), IpcError> {
        match msg {
            ToWorker::ChannelOpened { conn, info, resume } => {
                if self.conns.contains_key(&conn) {
                    // Already handed over when this worker started.
                    return Ok(());
                }
                if info.channel_type != ChannelType::Inputs.as_u8() {
                    return self.tx.send(&FromWorker::CloseChannel {
                        conn,
                        reason: format!(
                            "inputs worker cannot serve channel type {}",
                            info.channel_type
                        ),
                    });
                }
                self.conns.insert(
                    conn,
                    Conn {
                        session_id: info.session_id,
                        motions: 0,
                        keys: ScancodeDecoder::new(),
                        peer: info.peer,
                    },
                );
                self.tx.send(&FromWorker::ChannelState {
                    conn,
                    state: ResumeState::Inputs,
                })?;
                if resume.is_some() {
                    // The client has had INIT; the host's LED state follows
                    // in the handover and is sent as KEY_MODIFIERS.
                    return Ok(());
                }
                let init = OutMessage {
                    msg_type: inputs_srv::INIT,
                    body: inputs::inputs_init(self.leds),
                };
                self.send(conn, vec![init])
            }
            ToWorker::ChannelClosed { conn } => {
                self.conns.remove(&conn);
                Ok(())
            }
            ToWorker::HostLeds { modifiers } => {
                self.leds = modifiers;
                let conns: Vec<ConnId> = self.conns.keys().copied().collect();
                for conn in conns {
                    let m = OutMessage {
                        msg_type: inputs_srv::KEY_MODIFIERS,
                        body: inputs::key_modifiers(modifiers),
                    };
                    self.send(conn, vec![m])?;
                }
                Ok(())
            }
            ToWorker::ClientMessage {
                conn,
                msg_type,
                body,
            } => self.client_message(conn, msg_type, &body),
            ToWorker::SetCompression { .. } | ToWorker::SessionLink { .. } => Ok(()),
            ToWorker::InjectFault { fault } => {
                if self.test_hooks {
                    tracing::warn!(?fault, "injecting a fault on request (test hooks)");
                    spicebox_sandbox::provoke(fault);
                } else {
                    tracing::warn!(?fault, "fault injection refused: test hooks are off");
                }
                Ok(())
            }
            ToWorker::Screendump { request } => self.tx.send(&FromWorker::Screendump {
                request,
                result: Err("the inputs worker holds no picture".into()),
            }),
        }
    }

    fn client_message(&mut self, conn: ConnId, msg_type: u16, body: &[u8]) -> Result<(), IpcError> {
        let Some(state) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        // Common messages: inputs uses no ACK window and sends no PINGs, so
        // these need no answer.
        if matches!(
            msg_type,
            common_cli::ACK_SYNC | common_cli::ACK | common_cli::PONG | common_cli::DISCONNECTING
        ) {
            return Ok(());
        }
        let parsed = inputs::parse_inputs_client(msg_type, body).map_err(|e| e.to_string());
        let translated =
            parsed.and_then(|m| translate(&m, &mut state.keys).map_err(|e| e.to_string()));
        let translated = match translated {
            Ok(t) => t,
            Err(reason) => {
                tracing::warn!(peer = %state.peer, conn, msg_type, %reason, "bad inputs message; closing the channel");
                return self.tx.send(&FromWorker::CloseChannel {
                    conn,
                    reason: format!("bad inputs message {msg_type}: {reason}"),
                });
            }
        };
        let session_id = state.session_id;
        let mut ack = false;
        if translated.is_motion {
            state.motions += 1;
            if state.motions >= INPUT_MOTION_ACK_BUNCH {
                state.motions = 0;
                ack = true;
            }
        }
        for event in translated.events {
            self.tx.send(&FromWorker::Input { session_id, event })?;
        }
        if ack {
            let m = OutMessage {
                msg_type: inputs_srv::MOUSE_MOTION_ACK,
                body: inputs::mouse_motion_ack(),
            };
            self.send(conn, vec![m])?;
        }
        Ok(())
    }
}
