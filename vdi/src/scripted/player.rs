//! Playing a scene in the host process: wait for the start key, then one
//! step per frame period, then hold the last picture.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use spicebox_ipc::InputEvent;
use spicebox_shm::{Doorbell, Producer};

use super::Scene;
use crate::draw::canvas::BPP;
use crate::error::VdiError;

/// Plays `scene` and then holds its last picture until the supervisor goes
/// away (`events` disconnects). Input never changes the picture; the first
/// key press starts the scene.
pub(crate) fn play(
    mut scene: Scene,
    events: &Receiver<InputEvent>,
    period: Duration,
    producer: &mut Producer,
    doorbell: &Doorbell,
) -> Result<(), VdiError> {
    tracing::info!(
        scene = scene.name(),
        steps = scene.steps(),
        "scene waiting for a key press"
    );
    if !wait_for_key_press(events) {
        return Ok(());
    }
    tracing::info!(scene = scene.name(), "scene started");
    let stride = scene.width() as usize * BPP;
    while let Some(rects) = scene.step() {
        for r in rects {
            producer.write_rect(r, scene.frame(), stride)?;
        }
        doorbell.ring()?;
        // A full period after each step, even when painting was slow: the
        // steps reach the display worker one at a time, never bunched.
        if !idle_until(events, Instant::now() + period) {
            return Ok(());
        }
    }
    tracing::info!(
        scene = scene.name(),
        steps = scene.played(),
        "scene finished"
    );
    // Hold the picture; input is read only so that its queue never fills.
    while events.recv().is_ok() {}
    Ok(())
}

/// Waits for a key press; false when the input queue closed first.
fn wait_for_key_press(events: &Receiver<InputEvent>) -> bool {
    loop {
        match events.recv() {
            Ok(InputEvent::Key { pressed: true, .. }) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// Discards input until `deadline`; false when the input queue closed.
fn idle_until(events: &Receiver<InputEvent>, deadline: Instant) -> bool {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        match events.recv_timeout(deadline - now) {
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}
