//! The main channel, served by the supervisor itself: session start (INIT),
//! the channel list, mouse mode, latency pings, ACK bookkeeping, and NOTIFY
//! on client errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spicebox_ipc::OutMessage;
use spicebox_protocol::common::{self, AckWindow, NotifySeverity, NotifyVisibility};
use spicebox_protocol::consts::main_cap;
use spicebox_protocol::consts::msg::{common_cli, common_srv, main_srv};
use spicebox_protocol::main_channel::{self, MainClientMsg, MainInit, MOUSE_MODE_SERVER};
use tokio::net::TcpStream;

use crate::channel_io::{read_message, spawn_writer, Counters, Outbox, ReadError};
use crate::link::Linked;
use crate::server::Server;
use crate::sessions::LinkMeasure;

/// Client → server main messages are small (agent chunks are at most
/// 2 KiB); anything bigger is a broken or hostile client.
const MAX_MAIN_MESSAGE: u32 = 64 * 1024;

/// The reference server's ACK window for channels that do not need flow
/// control in practice.
const MAIN_ACK_WINDOW: u32 = 40;

/// How often the server measures the round trip.
const PING_INTERVAL: Duration = Duration::from_secs(10);

/// Payload of the network test's large PING: big enough that its transfer
/// time dominates the latency on links below the threshold (the reference
/// server uses about the same).
const NET_TEST_BYTES: usize = 250 * 1024;
/// Below this throughput a link is low bandwidth, and WAN codecs set to
/// `auto` apply (the reference server's threshold).
const LOW_BANDWIDTH_BPS: u64 = 10 * 1024 * 1024;

/// The network test at the start of a session: an empty PING for latency,
/// then a large one whose extra round-trip time is its transfer time.
struct NetTest {
    warm_id: u32,
    big_id: u32,
    sent: Instant,
    warm_rtt: Option<Duration>,
}

impl NetTest {
    /// Feeds a PONG received at `now`; returns the measurement once both
    /// PONGs are in.
    fn on_pong(&mut self, id: u32, now: Instant) -> Option<LinkMeasure> {
        let rtt = now.saturating_duration_since(self.sent);
        if id == self.warm_id {
            self.warm_rtt = Some(rtt);
            return None;
        }
        if id != self.big_id {
            return None;
        }
        let latency = self.warm_rtt.unwrap_or_default();
        // Both PINGs left together: the large one's extra time is what its
        // payload took to cross (at least a microsecond, so a fast link
        // does not divide by zero).
        let transfer = rtt.saturating_sub(latency).max(Duration::from_micros(1));
        let bits = (NET_TEST_BYTES as u128 + 12) * 8;
        let bits_per_second =
            u64::try_from(bits * 1_000_000 / transfer.as_micros().max(1)).unwrap_or(u64::MAX);
        Some(LinkMeasure {
            latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            bits_per_second,
            low_bandwidth: bits_per_second < LOW_BANDWIDTH_BPS,
        })
    }
}

fn out(msg_type: u16, body: Vec<u8>) -> OutMessage {
    OutMessage { msg_type, body }
}

/// Milliseconds since server start, the clock of MULTI_MEDIA_TIME.
fn mm_time(server: &Server) -> u32 {
    // Wraps after 49 days, like the protocol's own u32 clock.
    server.started.elapsed().as_millis() as u32
}

/// Serves one main channel until the client leaves or misbehaves; the
/// session ends with it.
pub async fn serve(server: &Server, stream: TcpStream, peer: SocketAddr, linked: Linked) {
    let counters = Arc::new(Counters::default());
    let (session_id, ended) = server.sessions.create(peer, counters.clone());
    tracing::info!(%peer, session = session_id, "session started");
    let (mut reader, writer) = stream.into_split();
    let cancel = ended.child_token();
    let outbox = spawn_writer(writer, linked.header, cancel.clone(), counters);

    let mut ack = AckWindow::new(1, MAIN_ACK_WINDOW);
    let mut first = vec![
        out(common_srv::SET_ACK, common::set_ack(1, MAIN_ACK_WINDOW)),
        out(
            main_srv::INIT,
            MainInit {
                session_id,
                display_channels_hint: u32::from(server.args.displays),
                supported_mouse_modes: u32::from(MOUSE_MODE_SERVER),
                current_mouse_mode: u32::from(MOUSE_MODE_SERVER),
                agent_connected: 0,
                agent_tokens: 0,
                // The client shows video this far behind the server clock.
                multi_media_time: mm_time(server).wrapping_sub(400),
                ram_hint: 0,
            }
            .to_bytes(),
        ),
    ];
    if linked.client_channel_caps.has(main_cap::NAME_AND_UUID) {
        first.push(out(main_srv::NAME, main_channel::name(&server.name)));
        first.push(out(main_srv::UUID, main_channel::uuid(&server.uuid)));
    }
    for _ in &first {
        ack.on_sent();
    }
    let _ = outbox.send(first).await;

    let result = tokio::select! {
        r = main_loop(server, session_id, &mut reader, &outbox, &linked, &mut ack) => r,
        _ = cancel.cancelled() => Ok(()),
    };
    match result {
        Ok(()) => tracing::info!(%peer, session = session_id, "session ended"),
        Err(reason) => {
            tracing::warn!(%peer, session = session_id, %reason, "main channel closed");
            let text = format!("closing: {reason}");
            let notify = common::notify(
                u64::from(mm_time(server)),
                NotifySeverity::Error,
                NotifyVisibility::High,
                0,
                &text,
            );
            let _ = outbox.send(vec![out(common_srv::NOTIFY, notify)]).await;
        }
    }
    drop(outbox);
    // Give the writer a moment to flush the NOTIFY before the session's
    // connections are torn down.
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.sessions.end(session_id);
    for display in &server.displays {
        display.forget_session(session_id);
    }
    cancel.cancel();
}

async fn main_loop(
    server: &Server,
    session_id: u32,
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    outbox: &Outbox,
    linked: &Linked,
    ack: &mut AckWindow,
) -> Result<(), String> {
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    let mut ping_id: u32 = 2;
    let mut pings: Vec<(u32, Instant)> = Vec::new();
    let mut net_test = Some(NetTest {
        warm_id: 1,
        big_id: 2,
        sent: Instant::now(),
        warm_rtt: None,
    });
    let now = u64::from(mm_time(server));
    ack.on_sent();
    ack.on_sent();
    let _ = outbox
        .send(vec![
            out(common_srv::PING, common::ping(1, now, 0)),
            out(common_srv::PING, common::ping(2, now, NET_TEST_BYTES)),
        ])
        .await;
    // The read future is not cancel-safe, so it runs as its own future and
    // hands whole messages over a channel.
    let (msgs_tx, mut msgs) = tokio::sync::mpsc::channel(16);
    let reader_task = {
        let kind = linked.header;
        async move {
            loop {
                let m = read_message(reader, kind, MAX_MAIN_MESSAGE).await;
                let stop = m.is_err();
                if msgs_tx.send(m).await.is_err() || stop {
                    break;
                }
            }
        }
    };
    tokio::pin!(reader_task);
    let mut reader_done = false;
    loop {
        tokio::select! {
            _ = &mut reader_task, if !reader_done => reader_done = true,
            _ = ping.tick() => {
                ping_id = ping_id.wrapping_add(1);
                pings.push((ping_id, Instant::now()));
                if pings.len() > 8 {
                    pings.remove(0);
                }
                let body = common::ping(ping_id, u64::from(mm_time(server)), 0);
                ack.on_sent();
                let _ = outbox.send(vec![out(common_srv::PING, body)]).await;
            }
            m = msgs.recv() => {
                let m = match m {
                    Some(Ok(m)) => m,
                    Some(Err(ReadError::Closed)) | None => return Ok(()),
                    Some(Err(e)) => return Err(e.to_string()),
                };
                match m.msg_type {
                    common_cli::ACK_SYNC => {
                        let sync = common::AckSync::parse(&m.body).map_err(|e| format!("bad ACK_SYNC: {e}"))?;
                        ack.on_ack_sync(sync.generation);
                    }
                    common_cli::ACK => ack.on_ack(),
                    common_cli::PONG => {
                        let pong = common::Pong::parse(&m.body).map_err(|e| format!("bad PONG: {e}"))?;
                        if let Some(link) = net_test.as_mut().and_then(|t| t.on_pong(pong.id, Instant::now())) {
                            net_test = None;
                            tracing::info!(
                                session = session_id,
                                latency_us = link.latency_us,
                                bits_per_second = link.bits_per_second,
                                low_bandwidth = link.low_bandwidth,
                                "network test done"
                            );
                            server.record_rtt(Duration::from_micros(link.latency_us));
                            server.sessions.set_link(session_id, link);
                            for display in &server.displays {
                                display.session_link(session_id, link.low_bandwidth).await;
                            }
                        }
                        if let Some(pos) = pings.iter().position(|(id, _)| *id == pong.id) {
                            let (_, sent) = pings.remove(pos);
                            server.record_rtt(sent.elapsed());
                        }
                    }
                    common_cli::DISCONNECTING => return Ok(()),
                    common_cli::MIGRATE_FLUSH_MARK | common_cli::MIGRATE_DATA => {
                        return Err("migration messages without a migration".into());
                    }
                    t => handle_main(server, outbox, ack, t, &m.body).await?,
                }
            }
        }
    }
}

async fn handle_main(
    server: &Server,
    outbox: &Outbox,
    ack: &mut AckWindow,
    msg_type: u16,
    body: &[u8],
) -> Result<(), String> {
    let msg = main_channel::parse_main_client(msg_type, body)
        .map_err(|e| format!("bad main message {msg_type}: {e}"))?;
    let reply = match msg {
        MainClientMsg::AttachChannels => {
            // Every channel a session may open, as the link stage admits them.
            let list: Vec<(u8, u8)> = crate::server::worker_channels(server.args.displays)
                .iter()
                .map(|(t, id)| (t.as_u8(), *id))
                .collect();
            vec![out(
                main_srv::CHANNELS_LIST,
                main_channel::channels_list(&list),
            )]
        }
        MainClientMsg::MouseModeRequest { mode } => {
            if mode != MOUSE_MODE_SERVER {
                tracing::debug!(
                    mode,
                    "client mouse mode refused: no absolute pointer device"
                );
            }
            vec![out(
                main_srv::MOUSE_MODE,
                main_channel::mouse_mode(MOUSE_MODE_SERVER, MOUSE_MODE_SERVER),
            )]
        }
        MainClientMsg::AgentStart { .. } | MainClientMsg::AgentToken { .. } => Vec::new(),
        MainClientMsg::AgentData(_) => {
            vec![out(
                common_srv::NOTIFY,
                common::notify(
                    u64::from(mm_time(server)),
                    NotifySeverity::Warn,
                    NotifyVisibility::Low,
                    0,
                    "no agent is connected; agent data dropped",
                ),
            )]
        }
        _ => Vec::new(),
    };
    if !reply.is_empty() {
        for _ in &reply {
            ack.on_sent();
        }
        let _ = outbox.send(reply).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_at(sent: Instant) -> NetTest {
        NetTest {
            warm_id: 1,
            big_id: 2,
            sent,
            warm_rtt: None,
        }
    }

    #[test]
    fn a_slow_link_is_low_bandwidth_and_a_fast_one_is_not() {
        let t0 = Instant::now();
        // 250 KiB taking 400 ms more than an empty PING: about 5 Mbit/s.
        let mut slow = test_at(t0);
        assert_eq!(slow.on_pong(1, t0 + Duration::from_millis(20)), None);
        let m = slow
            .on_pong(2, t0 + Duration::from_millis(420))
            .expect("measured");
        assert_eq!(m.latency_us, 20_000);
        assert!(m.low_bandwidth, "{m:?}");
        assert!((5_000_000..5_300_000).contains(&m.bits_per_second), "{m:?}");
        // The same payload in 2 ms: about 1 Gbit/s.
        let mut fast = test_at(t0);
        assert_eq!(fast.on_pong(1, t0 + Duration::from_micros(100)), None);
        let m = fast
            .on_pong(2, t0 + Duration::from_micros(2100))
            .expect("measured");
        assert!(!m.low_bandwidth, "{m:?}");
    }

    #[test]
    fn unknown_pongs_are_ignored_and_a_missing_warm_up_counts_as_no_latency() {
        let t0 = Instant::now();
        let mut t = test_at(t0);
        assert_eq!(t.on_pong(77, t0 + Duration::from_millis(1)), None);
        let m = t.on_pong(2, t0).expect("measured");
        assert_eq!(m.latency_us, 0);
        assert!(!m.low_bandwidth);
    }
}
