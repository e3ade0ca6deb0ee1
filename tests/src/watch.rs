//! A bystander session: a client whose main and display channels stay open
//! and are read continuously on a background thread (answering PING and
//! SET_ACK), so a test can check that it survives what happens to other
//! connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client::{Channel, ClientError, Session};

/// What the background reader saw.
#[derive(Debug, Default, Clone)]
pub struct WatchState {
    /// Messages read on the main channel.
    pub main_messages: u64,
    /// Messages read on the display channel.
    pub display_messages: u64,
    /// Message types seen on the display channel, in order (first 10 000).
    pub display_types: Vec<u16>,
    /// The first error on either channel (a close is an error here).
    pub error: Option<String>,
}

/// A session whose channels are drained by a thread until dropped.
pub struct WatchedSession {
    /// Server address.
    pub addr: SocketAddr,
    /// Session id from MAIN INIT.
    pub session_id: u32,
    /// Local address of the main channel.
    pub main_local: SocketAddr,
    /// Local address of the display channel.
    pub display_local: SocketAddr,
    password: String,
    state: Arc<Mutex<WatchState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WatchedSession {
    /// Connects a session (main + display 0) and starts reading it.
    pub fn connect(addr: SocketAddr, password: &str) -> Result<WatchedSession, ClientError> {
        let session = Session::connect(addr, password)?;
        let display = session.open_display(0)?;
        let session_id = session.session_id;
        let main_local = session.main.local_addr();
        let display_local = display.local_addr();
        let state = Arc::new(Mutex::new(WatchState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            let main = session.main;
            std::thread::spawn(move || reader(main, display, state, stop))
        };
        Ok(WatchedSession {
            addr,
            session_id,
            main_local,
            display_local,
            password: password.to_owned(),
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// A copy of what the reader has seen so far.
    pub fn state(&self) -> WatchState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Links another channel into this session.
    pub fn open(
        &self,
        channel_type: u8,
        channel_id: u8,
        channel_caps: &[u32],
    ) -> Result<Channel, ClientError> {
        crate::client::Link::connect(
            self.addr,
            channel_type,
            channel_id,
            self.session_id,
            &self.password,
            &crate::client::default_common_caps(),
            channel_caps,
        )
    }

    /// Panics if either channel failed or closed.
    pub fn assert_open(&self, context: &str) {
        let st = self.state();
        if let Some(e) = st.error {
            panic!("{context}: the bystander session broke: {e}");
        }
    }

    /// Waits (at most `timeout`) until the display channel has received
    /// more than `after` messages; panics otherwise or if a channel broke.
    pub fn assert_display_flows(&self, after: u64, timeout: Duration, context: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.state();
            if let Some(e) = st.error {
                panic!("{context}: the bystander session broke: {e}");
            }
            if st.display_messages > after {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{context}: the bystander's display channel got no message in {timeout:?} \
                     (still {} messages; types so far: {:?})",
                    st.display_messages,
                    &st.display_types[st.display_types.len().saturating_sub(20)..]
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn reader(
    mut main: Channel,
    mut display: Channel,
    state: Arc<Mutex<WatchState>>,
    stop: Arc<AtomicBool>,
) {
    let fail = |what: &str, e: ClientError| {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        if st.error.is_none() {
            st.error = Some(format!("{what} channel: {e}"));
        }
    };
    while !stop.load(Ordering::Relaxed) {
        match main.recv(Duration::from_millis(20)) {
            Ok(_) => {
                state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .main_messages += 1
            }
            Err(ClientError::Timeout(_)) => {}
            Err(e) => return fail("main", e),
        }
        // Drain what is there, in bounded batches.
        for _ in 0..64 {
            match display.recv(Duration::from_millis(30)) {
                Ok((t, _)) => {
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    st.display_messages += 1;
                    if st.display_types.len() < 10_000 {
                        st.display_types.push(t);
                    }
                }
                Err(ClientError::Timeout(_)) => break,
                Err(e) => return fail("display", e),
            }
        }
    }
}

impl Drop for WatchedSession {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // The reader checks the flag at least every ~2 s (64 × 30 ms).
            let _ = t.join();
        }
    }
}
