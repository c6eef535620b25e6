//! Property tests ("fuzzing") of the frame decoder and the handshake: garbage, truncated frames,
//! huge length prefixes, replayed frames and frames under the wrong key never panic, never
//! allocate past the frame limit, and end the connection with an error. Before authentication
//! the limit is [`MAX_HANDSHAKE_FRAME`]: a larger prefix is refused at once, without waiting for
//! (or buffering) its body.

use super::connection::*;
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Writes `bytes` as a raw peer, then closes; returns what the keyed server-side handshake did.
async fn handshake_against(bytes: Vec<u8>) -> Result<(), ProtocolError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(&bytes).await;
        let _ = s.shutdown().await;
        // Keep the socket open until the server has read everything.
        let mut sink = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut sink).await;
    });
    let (stream, _) = listener.accept().await.unwrap();
    let key = random_bytes::<32>();
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        handshake(stream, "hq-server", "hq-client", Some(&key)),
    )
    .await
    .expect("the handshake must not hang on a closed peer");
    writer.abort();
    result.map(|_| ())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_passes_the_handshake(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let result = runtime().block_on(handshake_against(bytes));
        prop_assert!(result.is_err());
    }

    #[test]
    fn framed_garbage_never_passes_the_handshake(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let result = runtime().block_on(handshake_against(bytes));
        prop_assert!(result.is_err());
    }

    #[test]
    fn huge_length_prefixes_are_refused_without_allocating(len in (MAX_FRAME as u32 + 1)..=u32::MAX) {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 16]);
        let result = runtime().block_on(handshake_against(bytes));
        prop_assert!(result.is_err());
    }

    #[test]
    fn frames_over_the_handshake_limit_are_refused_before_their_body(
        len in (MAX_HANDSHAKE_FRAME as u32 + 1)..=u32::MAX,
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let result = runtime().block_on(prefix_then_hold(len, body));
        prop_assert!(
            matches!(result, Err(ProtocolError::HandshakeFrameTooLarge { .. })),
            "{result:?}"
        );
    }
}

/// A peer that sends a length prefix and a little of the body, then keeps the connection open:
/// the handshake must fail on the prefix alone (within a second, far below its deadline).
async fn prefix_then_hold(len: u32, body: Vec<u8>) -> Result<(), ProtocolError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(&len.to_be_bytes()).await;
        let _ = s.write_all(&body).await;
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    });
    let (stream, _) = listener.accept().await.unwrap();
    let key = random_bytes::<32>();
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        handshake(stream, "hq-server", "hq-client", Some(&key)),
    )
    .await
    .expect("an oversized frame must be refused at once, not after the deadline");
    peer.abort();
    result.map(|_| ())
}

#[test]
fn a_silent_peer_fails_the_handshake_at_its_deadline() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let result = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _peer = TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        handshake(stream, "hq-server", "hq-client", None).await
    });
    assert!(matches!(result, Err(ProtocolError::Timeout(_))));
}

#[test]
fn frames_up_to_the_full_limit_pass_after_the_handshake() {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let key = random_bytes::<32>();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (_, mut rx) = handshake(s, "hq-server", "hq-client", Some(&key))
                .await
                .unwrap();
            rx.recv::<Vec<u8>>().await.unwrap().unwrap().len()
        });
        let c = TcpStream::connect(addr).await.unwrap();
        let (mut tx, _rx) = handshake(c, "hq-client", "hq-server", Some(&key))
            .await
            .unwrap();
        tx.send(&vec![7u8; 1 << 20]).await.unwrap();
        assert_eq!(server.await.unwrap(), 1 << 20);
    });
}

#[test]
fn replayed_and_foreign_frames_fail_their_integrity_check() {
    let key = random_bytes::<32>();
    let prefix = random_bytes::<16>();
    let mut sender = Seal::new(&key, prefix);
    let mut receiver = Seal::new(&key, prefix);
    let first = sender.seal(b"first");
    assert_eq!(receiver.open(&first).unwrap(), b"first");
    assert!(
        receiver.open(&first).is_err(),
        "a replayed frame is refused"
    );

    let mut foreign = Seal::new(&random_bytes::<32>(), prefix);
    let mut receiver = Seal::new(&key, prefix);
    assert!(
        receiver.open(&foreign.seal(b"x")).is_err(),
        "a frame under another key is refused"
    );
}
