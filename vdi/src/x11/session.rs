//! One connected stretch of the X11 host: publish the display, replay
//! input, and follow changes until the display or the supervisor goes.
//!
//! Input is applied as soon as it arrives; pixels, cursor and LEDs are
//! collected once per frame period, so a display that changes constantly
//! costs at most `fps` captures a second however many X requests draw it.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use spicebox_ipc::FromHost;
use spicebox_shm::{Rect, ShmError};
use x11rb::connection::Connection;

use super::display::{Display, Pending};
use super::error::X11Error;
use super::input::{Applied, Injector};
use super::Host;
use crate::error::VdiError;
use crate::host::peer_gone;

/// How often the LEDs are re-read when no key was pressed (another X
/// client or a real keyboard may toggle them).
const LED_POLL: Duration = Duration::from_secs(1);

/// How often capture figures are logged (at debug level).
const STATS_PERIOD: Duration = Duration::from_secs(10);

/// Captures since the figures were last logged.
struct Stats {
    since: Instant,
    frames: u32,
    rects: u32,
    pixels: u64,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            since: Instant::now(),
            frames: 0,
            rects: 0,
            pixels: 0,
        }
    }

    fn count(&mut self, rect: &Rect) {
        self.rects += 1;
        self.pixels += u64::from(rect.width) * u64::from(rect.height);
    }

    /// Logs and restarts once per [`STATS_PERIOD`].
    fn maybe_log(&mut self) {
        let elapsed = self.since.elapsed();
        if elapsed < STATS_PERIOD {
            return;
        }
        tracing::debug!(
            frames_per_second = f64::from(self.frames) / elapsed.as_secs_f64(),
            rects = self.rects,
            megapixels = self.pixels as f64 / 1e6,
            "X capture"
        );
        *self = Stats::new();
    }
}

/// Why a session ended.
pub(crate) enum Ended {
    /// The supervisor closed the link: the host stops.
    Supervisor,
    /// The X display failed: show it as gone and retry.
    Display(X11Error),
}

/// Everything that can interrupt a session: the display, or the host's
/// own shared region and link (which end the host).
enum Stop {
    Display(X11Error),
    Supervisor,
    Host(VdiError),
}

impl From<X11Error> for Stop {
    fn from(e: X11Error) -> Self {
        Stop::Display(e)
    }
}

impl From<ShmError> for Stop {
    fn from(e: ShmError) -> Self {
        Stop::Host(e.into())
    }
}

impl From<VdiError> for Stop {
    fn from(e: VdiError) -> Self {
        Stop::Host(e)
    }
}

/// A connected display and what has been published of it.
pub(crate) struct Session {
    display: Display,
    period: Duration,
    injector: Injector,
    /// The screen as the host mirrors it (B,G,R,X, `mode.0` pixels a row).
    frame: Vec<u8>,
    /// The published mode: the screen size, clipped to the region's
    /// largest mode.
    mode: (u32, u32),
    cursor: Option<(i32, i32)>,
    leds: Option<u16>,
    leds_due: bool,
    leds_checked: Instant,
    stats: Stats,
}

impl Session {
    pub(crate) fn new(display: Display, period: Duration) -> Session {
        let size = display.size();
        let injector = Injector::new(display.root(), size, (0, 0));
        Session {
            display,
            period,
            injector,
            frame: Vec::new(),
            mode: (0, 0),
            cursor: None,
            leds: None,
            leds_due: true,
            leds_checked: Instant::now(),
            stats: Stats::new(),
        }
    }

    /// Serves the display until it or the supervisor goes.
    pub(crate) fn run(mut self, host: &mut Host) -> Result<Ended, VdiError> {
        let result = self.start(host).and_then(|()| self.serve(host));
        match result {
            Ok(()) | Err(Stop::Supervisor) => {
                self.display.close();
                Ok(Ended::Supervisor)
            }
            Err(Stop::Display(e)) => Ok(Ended::Display(e)),
            Err(Stop::Host(e)) => Err(e),
        }
    }

    /// Publishes the mode, the whole screen, the cursor and the LEDs.
    fn start(&mut self, host: &mut Host) -> Result<(), Stop> {
        let size = self.display.size();
        self.publish_mode(host, size)?;
        self.publish_cursor_shape(host)?;
        self.frame_step(host, Pending::default())?;
        host.doorbell.ring()?;
        Ok(())
    }

    fn serve(&mut self, host: &mut Host) -> Result<(), Stop> {
        let mut deadline = Instant::now() + self.period;
        loop {
            let now = Instant::now();
            if now >= deadline {
                let pending = self.display.poll_events()?;
                if self.frame_step(host, pending)? {
                    host.doorbell.ring()?;
                }
                deadline += self.period;
                // Behind (slow capture, stopped process): skip frames
                // rather than burst.
                if deadline < now {
                    deadline = now + self.period;
                }
                continue;
            }
            match host.events.recv_timeout(deadline - now) {
                Ok(event) => {
                    if !self.display.has_xtest() {
                        continue;
                    }
                    let conn = self.display.conn();
                    match self.injector.apply(conn, &event)? {
                        Applied::Key => self.leds_due = true,
                        Applied::Moved(x, y) => {
                            // Show the move now rather than at the next
                            // frame: the pointer is what the user watches.
                            host.producer.move_cursor(x, y)?;
                            self.cursor = Some((x, y));
                            host.doorbell.ring()?;
                        }
                        Applied::Nothing => {}
                    }
                    conn.flush().map_err(X11Error::from)?;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(Stop::Supervisor),
            }
        }
    }

    /// Publishes what changed in one frame. True if anything was.
    fn frame_step(&mut self, host: &mut Host, pending: Pending) -> Result<bool, Stop> {
        let mut changed = false;
        if let Some(size) = pending.resized {
            self.injector.set_size(size);
            self.publish_mode(host, size)?;
            changed = true;
        } else if pending.damaged {
            let rects = self.display.take_damage(self.mode)?;
            self.stats.frames += u32::from(!rects.is_empty());
            for rect in rects {
                self.stats.count(&rect);
                self.publish_rect(host, rect)?;
                changed = true;
            }
        }
        self.stats.maybe_log();
        if pending.cursor {
            self.publish_cursor_shape(host)?;
            changed = true;
        }
        let pointer = self.display.pointer()?;
        if self.cursor != Some(pointer) {
            self.injector.set_pointer(pointer.0, pointer.1);
            host.producer.move_cursor(pointer.0, pointer.1)?;
            self.cursor = Some(pointer);
            changed = true;
        }
        self.report_leds(host)?;
        Ok(changed)
    }

    /// Sets the mode for a screen of `size` and publishes all of it.
    fn publish_mode(&mut self, host: &mut Host, size: (u32, u32)) -> Result<(), Stop> {
        let (max_w, max_h) = host.producer.max_size();
        let mode = (size.0.min(max_w), size.1.min(max_h));
        if mode != size {
            tracing::warn!(
                width = size.0,
                height = size.1,
                shown_width = mode.0,
                shown_height = mode.1,
                "the X screen is larger than the shared framebuffer; showing its top-left part"
            );
        }
        host.producer.set_mode(mode.0, mode.1)?;
        self.mode = mode;
        self.frame = vec![0; mode.0 as usize * mode.1 as usize * 4];
        // Everything is read below; damage reported so far is covered.
        self.display.discard_damage()?;
        let full = Rect {
            x: 0,
            y: 0,
            width: mode.0,
            height: mode.1,
        };
        self.publish_rect(host, full)
    }

    /// Reads `rect` from the display and publishes it.
    fn publish_rect(&mut self, host: &mut Host, rect: Rect) -> Result<(), Stop> {
        match self.display.read(rect, &mut self.frame, self.mode.0) {
            Ok(()) => {}
            Err(X11Error::Refused(error)) => {
                // The screen shrank under the read; the resize event that
                // follows brings a full capture.
                tracing::debug!(?error, ?rect, "capture refused");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        host.producer
            .write_rect(rect, &self.frame, self.mode.0 as usize * 4)?;
        Ok(())
    }

    fn publish_cursor_shape(&mut self, host: &mut Host) -> Result<(), Stop> {
        let image = self.display.cursor_image()?;
        host.producer.set_cursor_shape(
            image.width,
            image.height,
            image.hot_x,
            image.hot_y,
            &image.pixels,
        )?;
        Ok(())
    }

    /// Sends the LEDs to the supervisor when they changed; checks after
    /// key presses and every [`LED_POLL`].
    fn report_leds(&mut self, host: &mut Host) -> Result<(), Stop> {
        if !self.leds_due && self.leds_checked.elapsed() < LED_POLL {
            return Ok(());
        }
        self.leds_due = false;
        self.leds_checked = Instant::now();
        let Some(leds) = self.display.leds()? else {
            return Ok(());
        };
        if self.leds != Some(leds) {
            self.leds = Some(leds);
            if peer_gone(host.tx.send(&FromHost::Leds { modifiers: leds }))? {
                return Err(Stop::Supervisor);
            }
        }
        Ok(())
    }
}
