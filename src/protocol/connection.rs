//! Framing (4-byte big-endian length, at most [`MAX_FRAME`]), the handshake with version and role,
//! challenge-response authentication, and per-frame XChaCha20-Poly1305 sealing.
//!
//! Until the handshake completes a peer is a stranger: its frames may be at most
//! [`MAX_HANDSHAKE_FRAME`] bytes (a longer length prefix ends the connection before anything is
//! buffered), and the whole handshake must finish within [`HANDSHAKE_TIMEOUT`].

use super::messages::{HQ_VERSION, PROTOCOL_VERSION};
use crate::common::encode::encode_into;
use bytes::Bytes;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use futures::{SinkExt, StreamExt};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// Largest frame accepted after the handshake; a longer length prefix drops the connection
/// before allocating.
pub const MAX_FRAME: usize = 128 * 1024 * 1024;
/// What sealing adds to a frame (the Poly1305 tag).
const TAG_LEN: usize = 16;
/// Largest frame accepted before the handshake completes (a hello or an answer is < 200 bytes).
pub const MAX_HANDSHAKE_FRAME: usize = 4 * 1024;
/// The whole handshake must complete within this time.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// A 32-byte shared secret from access.json.
pub type SecretKey = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("connection closed by the peer")]
    Closed,
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Decode(#[from] postcard::Error),
    #[error("Hyperqueue version mismatch detected. The peer runs version {peer}, but the current version is {ours}.")]
    VersionMismatch { peer: String, ours: String },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("the handshake did not complete within {0:?}")]
    Timeout(Duration),
    #[error("a frame sent before authentication is larger than {limit} bytes")]
    HandshakeFrameTooLarge { limit: usize },
    /// Refused before sending: the peer would drop the connection.
    #[error("the message is {} MiB, more than the {} MiB a message may have; submit a job this large in parts (e.g. several submissions to an open job)", .size / (1024 * 1024), MAX_FRAME / (1024 * 1024))]
    TooLarge { size: usize },
}

/// First message of each side.
#[derive(Serialize, Deserialize, Debug)]
struct Hello {
    protocol: u32,
    version: String,
    role: String,
    challenge: Option<[u8; 16]>,
}

/// Second message: proof of the key, and the nonce prefix of this side's sending stream.
#[derive(Serialize, Deserialize, Debug)]
struct Answer {
    nonce_prefix: [u8; 16],
    sealed: Vec<u8>,
}

/// One direction of a sealed stream: a random prefix plus a counter make every nonce unique,
/// and the receiver's expected counter rejects replayed, dropped or reordered frames.
pub(super) struct Seal {
    cipher: XChaCha20Poly1305,
    prefix: [u8; 16],
    counter: u64,
}

impl Seal {
    pub(super) fn new(key: &SecretKey, prefix: [u8; 16]) -> Self {
        Seal {
            cipher: XChaCha20Poly1305::new(key.into()),
            prefix,
            counter: 0,
        }
    }

    fn nonce(&self) -> XNonce {
        let mut n = [0u8; 24];
        n[..16].copy_from_slice(&self.prefix);
        n[16..].copy_from_slice(&self.counter.to_le_bytes());
        XNonce::from(n)
    }

    pub(super) fn seal(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(data.len() + TAG_LEN);
        buf.extend_from_slice(data);
        self.seal_in_place(&mut buf);
        buf
    }

    /// Encrypts `buf` in place and appends the tag.
    fn seal_in_place(&mut self, buf: &mut Vec<u8>) {
        let nonce = self.nonce();
        self.counter += 1;
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        if self.cipher.encrypt_in_place(&nonce, b"", buf).is_err() {
            buf.clear();
        }
    }

    pub(super) fn open(&mut self, data: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let mut buf = data.to_vec();
        self.open_in_place(&mut buf)?;
        Ok(buf)
    }

    /// Checks and decrypts `buf` in place (dropping the tag).
    fn open_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let nonce = self.nonce();
        self.counter += 1;
        self.cipher
            .decrypt_in_place(&nonce, b"", buf)
            .map_err(|_| ProtocolError::Auth("a frame failed its integrity check".into()))
    }
}

fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max_frame)
        .new_codec()
}

/// Receiving half of an established connection.
pub struct FrameReceiver {
    inner: FramedRead<OwnedReadHalf, LengthDelimitedCodec>,
    seal: Option<Seal>,
}

/// Sending half of an established connection.
pub struct FrameSender {
    inner: FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
    seal: Option<Seal>,
    /// Encoded size of the last frame, the first guess for the next one's buffer.
    last_frame: usize,
}

impl FrameReceiver {
    /// The next message, or `Ok(None)` when the peer closed the connection cleanly.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ProtocolError> {
        let Some(frame) = self.inner.next().await else {
            return Ok(None);
        };
        let frame = frame?;
        let msg = match &mut self.seal {
            Some(seal) => {
                let mut data = Vec::from(frame);
                seal.open_in_place(&mut data)?;
                postcard::from_bytes(&data)?
            }
            None => postcard::from_bytes(&frame)?,
        };
        Ok(Some(msg))
    }
}

impl FrameSender {
    /// Sends a message and flushes it to the socket.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), ProtocolError> {
        let frame = self.frame(msg)?;
        self.inner.send(frame).await?;
        Ok(())
    }

    /// Queues a message to go out with the next [`send`](Self::send) (one write for both).
    pub async fn feed<T: Serialize>(&mut self, msg: &T) -> Result<(), ProtocolError> {
        let frame = self.frame(msg)?;
        self.inner.feed(frame).await?;
        Ok(())
    }

    /// Encodes (and seals) a message as one frame, in one buffer sized by the last frame, so
    /// a large message grows no buffer step by step and sealing copies nothing.
    fn frame<T: Serialize>(&mut self, msg: &T) -> Result<Bytes, ProtocolError> {
        let mut data = Vec::with_capacity(self.last_frame.min(MAX_FRAME) + TAG_LEN);
        encode_into(&mut data, msg)?;
        // Checked before sealing: a sealed frame that is not sent would desynchronise nonces.
        let size = data.len() + if self.seal.is_some() { TAG_LEN } else { 0 };
        if size > MAX_FRAME {
            return Err(ProtocolError::TooLarge { size });
        }
        self.last_frame = data.len();
        if let Some(seal) = &mut self.seal {
            seal.seal_in_place(&mut data);
        }
        Ok(Bytes::from(data))
    }
}

async fn recv_plain<T: DeserializeOwned>(
    reader: &mut FramedRead<OwnedReadHalf, LengthDelimitedCodec>,
) -> Result<T, ProtocolError> {
    let frame = match reader.next().await.ok_or(ProtocolError::Closed)? {
        Ok(frame) => frame,
        // The codec refuses a length prefix above its limit with `InvalidData`.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(ProtocolError::HandshakeFrameTooLarge {
                limit: MAX_HANDSHAKE_FRAME,
            })
        }
        Err(e) => return Err(e.into()),
    };
    Ok(postcard::from_bytes(&frame)?)
}

async fn send_plain<T: Serialize>(
    writer: &mut FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
    msg: &T,
) -> Result<(), ProtocolError> {
    let data = postcard::to_allocvec(msg)?;
    writer.send(Bytes::from(data)).await?;
    Ok(())
}

/// Runs the handshake on a fresh TCP stream: both sides send a hello (version, role, challenge),
/// then prove they hold `key` by sealing `<own role><peer's challenge>`. With `key = None` both
/// sides must have authentication disabled. Frames are limited to [`MAX_HANDSHAKE_FRAME`] bytes
/// and the whole exchange to [`HANDSHAKE_TIMEOUT`]; afterwards frames may be [`MAX_FRAME`].
pub async fn handshake(
    stream: TcpStream,
    my_role: &str,
    peer_role: &str,
    key: Option<&SecretKey>,
) -> Result<(FrameSender, FrameReceiver), ProtocolError> {
    let exchange = exchange(stream, my_role, peer_role, key);
    let (mut sender, mut receiver) = tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .map_err(|_| ProtocolError::Timeout(HANDSHAKE_TIMEOUT))??;
    sender.inner.encoder_mut().set_max_frame_length(MAX_FRAME);
    receiver.inner.decoder_mut().set_max_frame_length(MAX_FRAME);
    Ok((sender, receiver))
}

async fn exchange(
    stream: TcpStream,
    my_role: &str,
    peer_role: &str,
    key: Option<&SecretKey>,
) -> Result<(FrameSender, FrameReceiver), ProtocolError> {
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    let mut reader = FramedRead::new(r, codec(MAX_HANDSHAKE_FRAME));
    let mut writer = FramedWrite::new(w, codec(MAX_HANDSHAKE_FRAME));

    let challenge = key.map(|_| random_bytes::<16>());
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        version: HQ_VERSION.into(),
        role: my_role.into(),
        challenge,
    };
    send_plain(&mut writer, &hello).await?;
    let peer: Hello = recv_plain(&mut reader).await?;
    if peer.protocol != PROTOCOL_VERSION || peer.version != HQ_VERSION {
        return Err(ProtocolError::VersionMismatch {
            peer: peer.version,
            ours: HQ_VERSION.into(),
        });
    }
    if peer.role != peer_role {
        return Err(ProtocolError::Auth(format!(
            "expected a peer with role `{peer_role}`, got `{}`",
            peer.role
        )));
    }
    let (key, my_challenge, peer_challenge) = match (key, challenge, peer.challenge) {
        (None, _, None) => {
            return Ok((
                FrameSender {
                    inner: writer,
                    seal: None,
                    last_frame: 0,
                },
                FrameReceiver {
                    inner: reader,
                    seal: None,
                },
            ))
        }
        (Some(k), Some(mine), Some(theirs)) => (k, mine, theirs),
        (Some(_), _, None) => {
            return Err(ProtocolError::Auth(
                "the peer has authentication disabled".into(),
            ))
        }
        _ => {
            return Err(ProtocolError::Auth(
                "the peer requires authentication, but no key is configured".into(),
            ))
        }
    };

    let mut send_seal = Seal::new(key, random_bytes::<16>());
    let mut proof = my_role.as_bytes().to_vec();
    proof.extend_from_slice(&peer_challenge);
    let answer = Answer {
        nonce_prefix: send_seal.prefix,
        sealed: send_seal.seal(&proof),
    };
    send_plain(&mut writer, &answer).await?;

    let peer_answer: Answer = recv_plain(&mut reader).await?;
    let mut recv_seal = Seal::new(key, peer_answer.nonce_prefix);
    let opened = recv_seal
        .open(&peer_answer.sealed)
        .map_err(|_| ProtocolError::Auth("the peer does not hold the right secret key".into()))?;
    let mut expected = peer_role.as_bytes().to_vec();
    expected.extend_from_slice(&my_challenge);
    if opened != expected {
        return Err(ProtocolError::Auth(
            "the peer's proof does not match".into(),
        ));
    }
    Ok((
        FrameSender {
            inner: writer,
            seal: Some(send_seal),
            last_frame: 0,
        },
        FrameReceiver {
            inner: reader,
            seal: Some(recv_seal),
        },
    ))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair(
        server_key: Option<SecretKey>,
        client_key: Option<SecretKey>,
    ) -> (
        Result<(FrameSender, FrameReceiver), ProtocolError>,
        Result<(FrameSender, FrameReceiver), ProtocolError>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            handshake(s, "hq-server", "hq-client", server_key.as_ref()).await
        });
        let c = TcpStream::connect(addr).await.unwrap();
        let client = handshake(c, "hq-client", "hq-server", client_key.as_ref()).await;
        (server.await.unwrap(), client)
    }

    #[tokio::test]
    async fn same_key_talks_encrypted() {
        let key = random_bytes::<32>();
        let (s, c) = pair(Some(key), Some(key)).await;
        let (mut ss, mut sr) = s.unwrap();
        let (mut cs, mut cr) = c.unwrap();
        cs.send(&"hello".to_string()).await.unwrap();
        assert_eq!(sr.recv::<String>().await.unwrap().unwrap(), "hello");
        ss.send(&42u32).await.unwrap();
        assert_eq!(cr.recv::<u32>().await.unwrap().unwrap(), 42);
    }

    #[tokio::test]
    async fn wrong_or_missing_key_is_refused() {
        let (s, c) = pair(Some(random_bytes()), Some(random_bytes())).await;
        assert!(
            matches!(s, Err(ProtocolError::Auth(_))) || matches!(c, Err(ProtocolError::Auth(_)))
        );
        let (s, _) = pair(Some(random_bytes()), None).await;
        assert!(matches!(s, Err(ProtocolError::Auth(_))));
    }

    #[tokio::test]
    async fn a_message_over_the_limit_is_refused_before_sending() {
        let key = random_bytes::<32>();
        let (s, c) = pair(Some(key), Some(key)).await;
        let (_ss, mut sr) = s.unwrap();
        let (mut cs, _cr) = c.unwrap();
        // A string: serialised as one copy, so the test stays fast in debug builds.
        let big = "x".repeat(MAX_FRAME - 8);
        let err = cs.send(&big).await.unwrap_err();
        assert!(matches!(err, ProtocolError::TooLarge { size } if size > MAX_FRAME));
        assert!(err.to_string().contains("more than the 128 MiB"), "{err}");
        // The connection is still usable.
        cs.send(&1u32).await.unwrap();
        assert_eq!(sr.recv::<u32>().await.unwrap().unwrap(), 1);
    }
}
