//! The host process main loop: publishes the demo desktop into shared
//! memory and applies the input the supervisor forwards.

use std::io::ErrorKind;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use spicebox_ipc::{FromHost, InputEvent, IpcError, SyncReceiver, SyncSender as IpcSender, ToHost};
use spicebox_shm::{Doorbell, PixelFormat, Producer, Rect};

use crate::damage::DamageList;
use crate::desktop::DemoDesktop;
use crate::error::VdiError;
use crate::input_log::InputLog;
use crate::options::DemoOptions;
use crate::scripted::{self, Scene};

/// Input events queued between the receiving thread and the frame loop;
/// when full, the receiver stops reading and the socket pushes back.
pub(crate) const INPUT_QUEUE: usize = 1024;

/// Runs the demo desktop host until the supervisor closes the link.
///
/// Publishes the mode, the first picture, the cursor shape and position,
/// rings, and tells the supervisor the LED state; then applies input as it
/// arrives and, once per frame, publishes what changed and rings (only if
/// something did). With a scene set, plays it instead (see [`scripted`]).
/// Returns Ok when the supervisor goes away.
pub fn run(
    opts: DemoOptions,
    producer: Producer,
    doorbell: Doorbell,
    tx: IpcSender<FromHost>,
    rx: SyncReceiver<ToHost>,
) -> Result<(), VdiError> {
    run_displays(opts, vec![(producer, doorbell)], tx, rx)
}

/// Like [`run`] on several displays, in order: the first is the
/// interactive desktop (it takes the input and plays the scene); each
/// other one shows a desktop of its own (the seed plus its index) that
/// animates with the first but takes no input.
pub fn run_displays(
    opts: DemoOptions,
    displays: Vec<(Producer, Doorbell)>,
    mut tx: IpcSender<FromHost>,
    rx: SyncReceiver<ToHost>,
) -> Result<(), VdiError> {
    let mut displays = displays.into_iter();
    let (mut producer, doorbell) = displays.next().ok_or(VdiError::NoDisplay)?;
    let mut side = displays
        .enumerate()
        .map(|(i, (producer, doorbell))| SideDisplay::start(&opts, i + 1, producer, doorbell))
        .collect::<Result<Vec<_>, _>>()?;
    let mut desktop = DemoDesktop::new(&opts)?;
    let scene = opts
        .scene
        .as_deref()
        .map(|name| Scene::new(name, desktop.width(), desktop.height(), desktop.frame()))
        .transpose()?;
    let log = opts.input_log.as_deref().map(InputLog::open).transpose()?;
    publish_initial(&mut producer, &desktop, scene.as_ref())?;
    doorbell.ring()?;
    tracing::info!(
        width = opts.width,
        height = opts.height,
        fps = opts.fps,
        seed = opts.seed,
        freeze = opts.freeze,
        "demo desktop running"
    );
    let mut leds = desktop.leds();
    if peer_gone(tx.send(&FromHost::Leds { modifiers: leds }))? {
        return Ok(());
    }

    let (events_tx, events_rx) = mpsc::sync_channel(INPUT_QUEUE);
    let receiver = thread::Builder::new()
        .name("demo-input".into())
        .spawn(move || receive_input(rx, log, events_tx))
        .map_err(VdiError::Thread)?;

    let frames = FrameLoop {
        period: Duration::from_secs(1) / opts.fps,
        events: events_rx,
    };
    match scene {
        // The desktop stays frozen: the scene owns the picture.
        Some(scene) => scripted::play(
            scene,
            &frames.events,
            frames.period,
            &mut producer,
            &doorbell,
        )?,
        None => frames.run(
            &mut desktop,
            &mut producer,
            &doorbell,
            &mut side,
            &mut tx,
            &mut leds,
        )?,
    }
    // The frame loop ends when the receiver stopped: report why.
    receiver.join().map_err(|_| VdiError::InputThreadPanicked)?
}

/// Sets the mode and publishes the whole first picture and the pointer; a
/// scene decides the pixel format and shows its own first picture.
fn publish_initial(
    producer: &mut Producer,
    desktop: &DemoDesktop,
    scene: Option<&Scene>,
) -> Result<(), VdiError> {
    let (width, height) = (desktop.width(), desktop.height());
    let (format, picture) = match scene {
        Some(scene) => (scene.format(), scene.frame()),
        None => (PixelFormat::Xrgb32, desktop.frame()),
    };
    producer.set_mode_with_format(width, height, format)?;
    let full = Rect {
        x: 0,
        y: 0,
        width,
        height,
    };
    producer.write_rect(full, picture, stride(desktop))?;
    let (w, h, hot_x, hot_y, argb) = desktop.cursor_shape();
    producer.set_cursor_shape(w, h, hot_x, hot_y, &argb)?;
    let (x, y) = desktop.cursor();
    producer.move_cursor(x, y)?;
    Ok(())
}

fn stride(desktop: &DemoDesktop) -> usize {
    desktop.width() as usize * 4
}

/// Whether a send failed because the supervisor went away (which ends the
/// host normally); other failures are errors.
pub(crate) fn peer_gone(result: Result<(), IpcError>) -> Result<bool, VdiError> {
    match result {
        Ok(()) => Ok(false),
        Err(e) if is_closed(&e) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

fn is_closed(error: &IpcError) -> bool {
    match error {
        IpcError::Closed => true,
        IpcError::Io(e) => matches!(
            e.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// Reads input from the supervisor, logs it, and queues it for the frame
/// loop. Returns Ok when the supervisor closes the link.
pub(crate) fn receive_input(
    mut rx: SyncReceiver<ToHost>,
    mut log: Option<InputLog>,
    events: SyncSender<InputEvent>,
) -> Result<(), VdiError> {
    loop {
        match rx.recv() {
            Ok(ToHost::Input { session_id, event }) => {
                if let Some(log) = log.as_mut() {
                    log.record(session_id, &event)?;
                }
                if events.send(event).is_err() {
                    // The frame loop is gone; it reports its own error.
                    return Ok(());
                }
            }
            Err(e) if is_closed(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Advances and publishes the picture once per frame period, applying
/// input as soon as it arrives.
struct FrameLoop {
    period: Duration,
    events: Receiver<InputEvent>,
}

impl FrameLoop {
    fn run(
        &self,
        desktop: &mut DemoDesktop,
        producer: &mut Producer,
        doorbell: &Doorbell,
        side: &mut [SideDisplay],
        tx: &mut IpcSender<FromHost>,
        leds: &mut u16,
    ) -> Result<(), VdiError> {
        let mut damage = DamageList::new();
        let mut published_cursor = desktop.cursor();
        let mut deadline = Instant::now() + self.period;
        loop {
            let now = Instant::now();
            if now >= deadline {
                for r in desktop.advance() {
                    damage.add(r);
                }
                publish(
                    desktop,
                    producer,
                    doorbell,
                    &mut damage,
                    &mut published_cursor,
                )?;
                for display in side.iter_mut() {
                    display.advance()?;
                }
                deadline += self.period;
                // Fell behind (slow machine, stopped process): skip frames
                // rather than burst to catch up.
                if deadline < now {
                    deadline = now + self.period;
                }
                continue;
            }
            match self.events.recv_timeout(deadline - now) {
                Ok(event) => {
                    for r in desktop.apply_input(&event) {
                        damage.add(r);
                    }
                    if desktop.leds() != *leds {
                        *leds = desktop.leds();
                        if peer_gone(tx.send(&FromHost::Leds { modifiers: *leds }))? {
                            return Ok(());
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }
}

/// A display past the first: a desktop of its own, drawn on its own
/// region, that only animates.
struct SideDisplay {
    desktop: DemoDesktop,
    producer: Producer,
    doorbell: Doorbell,
    damage: DamageList,
    cursor: (i32, i32),
}

impl SideDisplay {
    /// Display `index`'s desktop, published whole.
    fn start(
        opts: &DemoOptions,
        index: usize,
        mut producer: Producer,
        doorbell: Doorbell,
    ) -> Result<SideDisplay, VdiError> {
        let own = DemoOptions {
            seed: opts.seed.wrapping_add(index as u64),
            scene: None,
            input_log: None,
            ..opts.clone()
        };
        let desktop = DemoDesktop::new(&own)?;
        publish_initial(&mut producer, &desktop, None)?;
        doorbell.ring()?;
        Ok(SideDisplay {
            cursor: desktop.cursor(),
            desktop,
            producer,
            doorbell,
            damage: DamageList::new(),
        })
    }

    /// One frame: the desktop moves on and what changed is published.
    fn advance(&mut self) -> Result<(), VdiError> {
        for r in self.desktop.advance() {
            self.damage.add(r);
        }
        publish(
            &self.desktop,
            &mut self.producer,
            &self.doorbell,
            &mut self.damage,
            &mut self.cursor,
        )
    }
}

/// Writes this frame's damage and pointer move, then rings once.
fn publish(
    desktop: &DemoDesktop,
    producer: &mut Producer,
    doorbell: &Doorbell,
    damage: &mut DamageList,
    published_cursor: &mut (i32, i32),
) -> Result<(), VdiError> {
    let mut rung = false;
    for r in damage.take() {
        producer.write_rect(r, desktop.frame(), stride(desktop))?;
        rung = true;
    }
    let cursor = desktop.cursor();
    if cursor != *published_cursor {
        producer.move_cursor(cursor.0, cursor.1)?;
        *published_cursor = cursor;
        rung = true;
    }
    if rung {
        doorbell.ring()?;
    }
    Ok(())
}
