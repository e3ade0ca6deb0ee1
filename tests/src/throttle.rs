//! A TCP proxy on 127.0.0.1 that slows the server-to-client direction to a
//! set rate: a slow link for tests, without touching the machine's network
//! configuration. Every connection through it (each SPICE channel) gets
//! its own budget; client-to-server bytes pass unthrottled.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// A running proxy; stopped (its threads told to end) when dropped.
pub struct Throttle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Throttle {
    /// Listens on an ephemeral loopback port and forwards every connection
    /// to `target`, server-to-client at `bytes_per_second`.
    pub fn start(target: SocketAddr, bytes_per_second: u64) -> std::io::Result<Throttle> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let acceptor = std::thread::Builder::new()
            .name("throttle-accept".into())
            .spawn(move || accept_loop(listener, target, bytes_per_second.max(1), flag))?;
        Ok(Throttle {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, rate: u64, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, _)) => {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nonblocking(false);
                spawn_pump(&client, &server, None, &stop);
                spawn_pump(&server, &client, Some(rate), &stop);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

fn spawn_pump(from: &TcpStream, to: &TcpStream, rate: Option<u64>, stop: &Arc<AtomicBool>) {
    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let stop = stop.clone();
    let _ = std::thread::Builder::new()
        .name("throttle-pump".into())
        .spawn(move || pump(from, to, rate, &stop));
}

/// Copies until either side closes or the proxy stops; with a rate, never
/// ahead of `rate × elapsed` bytes.
fn pump(mut from: TcpStream, mut to: TcpStream, rate: Option<u64>, stop: &AtomicBool) {
    let _ = from.set_read_timeout(Some(POLL));
    // Small chunks keep the rate smooth: a fiftieth of a second's worth.
    let chunk = rate.map_or(64 * 1024, |r| (r / 50).clamp(256, 64 * 1024) as usize);
    let mut buf = vec![0u8; chunk];
    let start = Instant::now();
    let mut sent: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
