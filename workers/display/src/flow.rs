//! Common client messages every channel of this worker accepts: ACK flow
//! control, PONG and DISCONNECTING.

use spicebox_protocol::common::{AckSync, AckWindow};
use spicebox_protocol::consts::msg::common_cli;

/// Handles `msg_type` if it is a common client message; `Ok(false)` when it
/// belongs to the channel.
pub fn common_message(ack: &mut AckWindow, msg_type: u16, body: &[u8]) -> Result<bool, String> {
    match msg_type {
        common_cli::ACK_SYNC => {
            let sync = AckSync::parse(body).map_err(|e| format!("bad ACK_SYNC: {e}"))?;
            ack.on_ack_sync(sync.generation);
        }
        common_cli::ACK => ack.on_ack(),
        common_cli::PONG | common_cli::DISCONNECTING => {}
        _ => return Ok(false),
    }
    Ok(true)
}
