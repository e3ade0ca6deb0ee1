//! One client's cursor channel: the pointer shape and, in server mouse mode,
//! where the client should draw it.

use spicebox_ipc::{ChannelInfo, OutMessage, ResumeState};
use spicebox_protocol::common::{self, AckWindow};

use crate::flow::common_message;
use spicebox_protocol::consts::msg::{common_srv, cursor_srv};
use spicebox_protocol::cursor::{self, CursorShape};
use spicebox_shm::{Consumer, CursorImage};

/// The reference server's ACK window for cursor channels.
const ACK_WINDOW: u32 = 20;

pub struct CursorConn {
    ack: AckWindow,
    ack_generation: u32,
    /// Taken over from a dead worker: the client already had INIT.
    resumed: bool,
    pub pending_move: bool,
    pub pending_shape: bool,
}

fn out(msg_type: u16, body: Vec<u8>) -> OutMessage {
    OutMessage { msg_type, body }
}

fn clamp16(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

fn shape(img: &CursorImage) -> CursorShape<'_> {
    CursorShape {
        unique: u64::from(img.serial),
        width: img.width,
        height: img.height,
        hot_x: img.hot_x,
        hot_y: img.hot_y,
        argb: &img.argb,
    }
}

impl CursorConn {
    pub fn new(_info: &ChannelInfo, resume: Option<&ResumeState>) -> Self {
        let (ack_generation, resumed) = match resume {
            Some(ResumeState::Cursor { ack_generation }) => {
                (ack_generation.wrapping_add(1).max(1), true)
            }
            _ => (1, false),
        };
        Self {
            ack: AckWindow::new(ack_generation, ACK_WINDOW),
            ack_generation,
            resumed,
            pending_move: false,
            pending_shape: false,
        }
    }

    /// What the client holds, for a worker that may take over.
    pub fn state(&self) -> ResumeState {
        ResumeState::Cursor {
            ack_generation: self.ack_generation,
        }
    }

    /// SET_ACK and INIT with the current shape and position: spice-gtk
    /// ignores everything else until INIT.
    pub fn on_open(&mut self, shm: &Consumer) -> Vec<OutMessage> {
        let set_ack = out(
            common_srv::SET_ACK,
            common::set_ack(self.ack_generation, ACK_WINDOW),
        );
        if self.resumed {
            // The client has had INIT; bring its shape up to date.
            self.pending_shape = true;
            self.ack.on_sent();
            return vec![set_ack];
        }
        let (x, y) = shm.cursor_position();
        let img = match shm.cursor() {
            Ok(img) => img,
            Err(error) => {
                tracing::warn!(%error, "cursor shape unreadable; sending none");
                None
            }
        };
        let init = cursor::cursor_init(
            clamp16(x),
            clamp16(y),
            0,
            0,
            true,
            img.as_ref().map(shape).as_ref(),
        );
        let msgs = vec![set_ack, out(cursor_srv::INIT, init)];
        for _ in &msgs {
            self.ack.on_sent();
        }
        msgs
    }

    pub fn on_client_message(&mut self, msg_type: u16, body: &[u8]) -> Result<(), String> {
        if common_message(&mut self.ack, msg_type, body)? {
            Ok(())
        } else {
            Err(format!("unknown cursor message type {msg_type}"))
        }
    }

    /// The latest shape and position, if due and the window allows.
    pub fn flush(&mut self, shm: &Consumer) -> Vec<OutMessage> {
        if !self.ack.can_send() || !(self.pending_move || self.pending_shape) {
            return Vec::new();
        }
        let (x, y) = shm.cursor_position();
        let msg = if self.pending_shape {
            match shm.cursor() {
                Ok(img) => out(
                    cursor_srv::SET,
                    cursor::cursor_set(
                        clamp16(x),
                        clamp16(y),
                        true,
                        img.as_ref().map(shape).as_ref(),
                    ),
                ),
                Err(error) => {
                    tracing::warn!(%error, "cursor shape unreadable");
                    out(
                        cursor_srv::MOVE,
                        cursor::cursor_move(clamp16(x), clamp16(y)),
                    )
                }
            }
        } else {
            out(
                cursor_srv::MOVE,
                cursor::cursor_move(clamp16(x), clamp16(y)),
            )
        };
        self.pending_move = false;
        self.pending_shape = false;
        self.ack.on_sent();
        vec![msg]
    }
}
