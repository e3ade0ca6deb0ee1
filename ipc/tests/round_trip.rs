//! Frames survive a real socket pair in both flavours, and oversized or
//! malformed frames are refused instead of trusted.

use std::io::Write;
use std::os::unix::net::UnixStream;

use spicebox_ipc::{
    socket_pair, split_async, split_sync, FromWorker, InputEvent, IpcError, OutMessage,
    ResumeState, ToWorker, MAX_FRAME_SIZE,
};

#[test]
fn sync_to_async_and_back() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (a, b) = socket_pair().expect("pair");
    let (mut wtx, mut wrx) = split_sync::<FromWorker, ToWorker>(b);
    rt.block_on(async move {
        let (mut stx, mut srx) = split_async::<ToWorker, FromWorker>(a).expect("async");
        let msg = ToWorker::ClientMessage {
            conn: 7,
            msg_type: 101,
            body: vec![1, 2, 3],
        };
        stx.send(&msg).await.expect("send");
        let got = tokio::task::spawn_blocking(move || {
            let got = wrx.recv().expect("recv");
            wtx.send(&FromWorker::Send {
                conn: 7,
                messages: vec![OutMessage {
                    msg_type: 102,
                    body: vec![9; 100_000],
                }],
                state: Some(ResumeState::Inputs),
            })
            .expect("reply");
            wtx.send(&FromWorker::Input {
                session_id: 1,
                event: InputEvent::Key {
                    code: 0xe04d,
                    pressed: true,
                },
            })
            .expect("input");
            got
        })
        .await
        .expect("join");
        assert_eq!(got, msg);
        match srx.recv().await.expect("reply") {
            FromWorker::Send {
                conn,
                messages,
                state,
            } => {
                assert_eq!(conn, 7);
                assert_eq!(state, Some(ResumeState::Inputs));
                assert_eq!(messages[0].body.len(), 100_000);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            srx.recv().await.expect("input"),
            FromWorker::Input { session_id: 1, .. }
        ));
        drop(stx);
    });
}

#[test]
fn oversized_and_garbage_frames_are_refused() {
    let (a, b) = socket_pair().expect("pair");
    let mut raw = UnixStream::from(a);
    let (_tx, mut rx) = split_sync::<FromWorker, ToWorker>(b);
    raw.write_all(&(MAX_FRAME_SIZE + 1).to_le_bytes())
        .expect("write");
    assert!(matches!(rx.recv(), Err(IpcError::FrameTooLarge { .. })));

    let (a, b) = socket_pair().expect("pair");
    let mut raw = UnixStream::from(a);
    let (_tx, mut rx) = split_sync::<FromWorker, ToWorker>(b);
    raw.write_all(&4u32.to_le_bytes()).expect("write");
    raw.write_all(&[0xff, 0xff, 0xff, 0xff]).expect("write");
    assert!(matches!(rx.recv(), Err(IpcError::Decode(_))));

    let (a, b) = socket_pair().expect("pair");
    drop(a);
    let (_tx, mut rx) = split_sync::<FromWorker, ToWorker>(b);
    assert!(matches!(rx.recv(), Err(IpcError::Closed)));
}
