//! Property tests ("fuzzing") of the frame decoder and the handshake: garbage, truncated frames,
//! huge length prefixes, replayed frames and frames under the wrong key never panic, never
//! allocate past the frame limit, and end the connection with an error.

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
