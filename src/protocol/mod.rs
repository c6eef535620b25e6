//! The wire protocol: messages (one file), framing with postcard, handshake, authentication and
//! per-frame encryption.

pub mod messages;
