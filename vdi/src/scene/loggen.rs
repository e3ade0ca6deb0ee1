//! Plausible terminal traffic from a seed: kernel messages, service logs and
//! little shell sessions, each line with the pause before it appears.

use std::collections::VecDeque;

use crate::draw::rng::Rng;

use super::text_line::{Ink, Line};

/// The prompt of the demo shell.
pub(crate) const PROMPT: &str = "demo:~$ ";

const USERS: [&str; 5] = ["ana", "bo", "chen", "dara", "eli"];
const SERVICES: [&str; 6] = ["sshd", "nginx", "cron", "spiced", "systemd", "postgres"];
const CRATES: [&str; 8] = [
    "libc", "memchr", "bytes", "tokio", "serde", "mio", "rustls", "spicebox",
];
const COMMITS: [&str; 8] = [
    "fix cursor hot spot",
    "faster damage merge",
    "add lz4 fallback",
    "tidy worker restart",
    "clamp pointer motion",
    "bump protocol caps",
    "retry on EINTR",
    "docs: ctl socket",
];
const DIRS: [&str; 4] = ["Desktop", "Documents", "spicebox", "photos"];
const FILES: [&str; 4] = ["notes.txt", "build.log", "todo.md", "a.out"];

/// Produces lines forever, deterministically.
pub(crate) struct LogGenerator {
    rng: Rng,
    /// Virtual wall clock, advanced per line, in milliseconds.
    clock_ms: u64,
    /// Virtual time since boot for kernel messages, in milliseconds.
    uptime_ms: u64,
    pending: VecDeque<(Line, u32)>,
}

impl LogGenerator {
    /// A generator for `seed`.
    pub(crate) fn new(seed: u64) -> LogGenerator {
        let mut rng = Rng::new(seed, 0x106);
        let clock_ms = u64::from(rng.range(8, 17)) * 3_600_000 + u64::from(rng.below(3_600_000));
        let uptime_ms = u64::from(rng.range(3_000, 60_000));
        LogGenerator {
            rng,
            clock_ms,
            uptime_ms,
            pending: VecDeque::new(),
        }
    }

    /// The next line and how many frames to wait before showing it.
    pub(crate) fn next_line(&mut self) -> (Line, u32) {
        loop {
            if let Some(next) = self.pending.pop_front() {
                return next;
            }
            self.refill();
        }
    }

    /// Seconds since midnight on the virtual clock, for `date`.
    pub(crate) fn clock(&self) -> (u64, u64, u64) {
        let secs = self.clock_ms / 1000;
        (secs / 3600 % 24, secs / 60 % 60, secs % 60)
    }

    fn refill(&mut self) {
        match self.rng.below(10) {
            0..=2 => self.kernel_burst(),
            3..=6 => self.service_burst(),
            _ => self.shell_session(),
        }
    }

    fn tick(&mut self, max_ms: u32) {
        let step = u64::from(self.rng.range(1, max_ms));
        self.clock_ms += step;
        self.uptime_ms += step;
    }

    fn timestamp(&self) -> String {
        let (h, m, s) = self.clock();
        format!("{h:02}:{m:02}:{s:02}")
    }

    fn user(&mut self) -> &'static str {
        self.rng.pick(&USERS).copied().unwrap_or("demo")
    }

    fn kernel_burst(&mut self) {
        for i in 0..self.rng.range(1, 3) {
            self.tick(900);
            let up = self.uptime_ms % 100_000_000;
            let stamp = format!("[{:>4}.{:03}] ", up / 1000, up % 1000);
            let n = self.rng.range(1, 9);
            let message = match self.rng.below(6) {
                0 => format!("usb 1-{n}: new USB device"),
                1 => "eth0: link up, 1000 Mbps".to_string(),
                2 => format!("input: spice tablet{n}"),
                3 => "EXT4-fs (vda1): remounted".to_string(),
                4 => format!("drm: resized to {}x{}", 640 * n, 400 * n),
                _ => format!("audit: pid={} ok", self.rng.range(300, 9000)),
            };
            let mut line = Line::plain(&stamp, Ink::Dim);
            line.push(&message, Ink::Normal);
            let delay = if i == 0 { self.rng.range(6, 30) } else { 1 };
            self.pending.push_back((line, delay));
        }
    }

    fn service_burst(&mut self) {
        for i in 0..self.rng.range(1, 4) {
            self.tick(4000);
            let service = self.rng.pick(&SERVICES).copied().unwrap_or("systemd");
            let (level, ink, message) = self.service_message(service);
            let mut line = Line::plain(&self.timestamp(), Ink::Dim);
            line.push(" ", Ink::Normal)
                .push(level, ink)
                .push(" ", Ink::Normal)
                .push(service, Ink::Blue)
                .push(" ", Ink::Normal)
                .push(&message, Ink::Normal);
            let delay = if i == 0 {
                self.rng.range(4, 24)
            } else {
                self.rng.range(1, 4)
            };
            self.pending.push_back((line, delay));
        }
    }

    fn service_message(&mut self, service: &str) -> (&'static str, Ink, String) {
        let roll = self.rng.below(100);
        if roll < 4 {
            return ("ERR", Ink::Red, "upstream timed out".to_string());
        }
        if roll < 18 {
            let ms = self.rng.range(300, 2500);
            return ("WRN", Ink::Yellow, format!("slow request {ms} ms"));
        }
        let n = self.rng.range(2, 250);
        let message = match service {
            "sshd" => format!("key ok: {}@10.0.0.{n}", self.user()),
            "nginx" => {
                let path = self.rng.pick(&["/status", "/login", "/app.js"]);
                format!("GET {} 200 {}ms", path.copied().unwrap_or("/"), n % 40 + 1)
            }
            "cron" => format!("({}) run-parts hourly", self.user()),
            "spiced" => format!("{n} frames, {} KiB", n * 37),
            "postgres" => format!("checkpoint {n} bufs"),
            _ => format!("Started session {n}"),
        };
        ("INF", Ink::Green, message)
    }

    fn shell_session(&mut self) {
        self.tick(20_000);
        let (command, output) = self.shell_command();
        let mut prompt = Line::plain(PROMPT, Ink::Prompt);
        prompt.push(&command, Ink::Bright);
        let pause = self.rng.range(15, 45);
        self.pending.push_back((prompt, pause));
        let mut first = true;
        for line in output {
            // Output follows the command after a short "think", then streams.
            let delay = if first {
                self.rng.range(3, 10)
            } else {
                self.rng.range(1, 3)
            };
            first = false;
            self.pending.push_back((line, delay));
        }
    }

    fn shell_command(&mut self) -> (String, Vec<Line>) {
        let dim = |s: &str| Line::plain(s, Ink::Normal);
        match self.rng.below(7) {
            0 => {
                let load = |r: &mut Rng| format!("0.{:02}", r.below(100));
                let text = format!(
                    " {} up {} days, load {} {}",
                    self.timestamp(),
                    self.rng.range(1, 40),
                    load(&mut self.rng),
                    load(&mut self.rng)
                );
                ("uptime".into(), vec![dim(&text)])
            }
            1 => {
                let mut line = Line::new();
                for d in DIRS {
                    line.push(d, Ink::Blue).push("  ", Ink::Normal);
                }
                let mut files = Line::new();
                for f in FILES {
                    files.push(f, Ink::Normal).push("  ", Ink::Normal);
                }
                ("ls".into(), vec![line, files])
            }
            2 => {
                let used = self.rng.range(8, 36);
                let lines = vec![
                    dim("Filesystem  Size  Used Avail Use%"),
                    dim(&format!(
                        "/dev/vda1    40G   {used:>2}G   {:>2}G  {:>2}%",
                        40 - used,
                        used * 100 / 40
                    )),
                ];
                ("df -h /".into(), lines)
            }
            3 => {
                let mut lines = Vec::new();
                for _ in 0..3 {
                    let hash = format!("{:07x}", self.rng.next_u64() & 0xfff_ffff);
                    let subject = self.rng.pick(&COMMITS).copied().unwrap_or("wip");
                    let mut line = Line::plain(&hash, Ink::Yellow);
                    line.push(" ", Ink::Normal).push(subject, Ink::Normal);
                    lines.push(line);
                }
                ("git log --oneline -3".into(), lines)
            }
            4 => {
                let mut lines = vec![dim("PING 10.0.0.1 56(84) bytes")];
                for seq in 1..=3 {
                    let t = self.rng.range(180, 900);
                    lines.push(dim(&format!("64 bytes: seq={seq} time=0.{t:03} ms")));
                }
                ("ping -c 3 10.0.0.1".into(), lines)
            }
            5 => {
                let used = self.rng.range(900, 3500);
                let lines = vec![
                    dim("       total   used   free"),
                    dim(&format!("Mem:    7963   {used:>4}   {:>4}", 7963 - used)),
                ];
                ("free -m".into(), lines)
            }
            _ => {
                let mut lines = Vec::new();
                for _ in 0..self.rng.range(2, 4) {
                    let name = self.rng.pick(&CRATES).copied().unwrap_or("spicebox");
                    let mut line = Line::plain("   Compiling ", Ink::Green);
                    line.push(
                        &format!("{name} v0.{}.{}", self.rng.below(20), self.rng.below(10)),
                        Ink::Normal,
                    );
                    lines.push(line);
                }
                let mut done = Line::plain("    Finished ", Ink::Green);
                done.push(
                    &format!(
                        "release in {}.{}s",
                        self.rng.range(2, 59),
                        self.rng.below(10)
                    ),
                    Ink::Normal,
                );
                lines.push(done);
                ("cargo build --release".into(), lines)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_lines_and_delays_are_positive() {
        let mut a = LogGenerator::new(3);
        let mut b = LogGenerator::new(3);
        for _ in 0..500 {
            let (la, da) = a.next_line();
            let (lb, db) = b.next_line();
            assert_eq!(la, lb);
            assert_eq!(da, db);
            assert!(da >= 1);
            assert!(la.len() > 0);
        }
    }
}
