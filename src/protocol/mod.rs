//! The wire protocol: messages (one file), framing with postcard, handshake, authentication and
//! per-frame encryption.

pub mod connection;
#[cfg(test)]
mod fuzz_tests;

pub mod messages;

pub use connection::{handshake, FrameReceiver, FrameSender, ProtocolError, SecretKey};
