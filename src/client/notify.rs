//! `hq task notify`: sends one message from inside a running task to its worker, which
//! forwards it to the server (common/notify.rs has the key and the exchange).

use crate::common::notify::{self, AccessKey, NotifyError};
use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};

/// Sends `message` as the execution named by `key` (the value of `HQ_ACCESS_KEY`) and waits
/// until the worker has passed it on.
pub async fn notify(key: Option<String>, message: Vec<u8>) -> Result<(), NotifyError> {
    let key: AccessKey = key.ok_or(NotifyError::NoKey)?.parse()?;
    if message.len() > notify::MAX_MESSAGE {
        return Err(NotifyError::TooLong(message.len()));
    }
    if key.socket.is_empty() {
        return Err(NotifyError::NoListener);
    }
    tokio::task::spawn_blocking(move || exchange(&key, &message))
        .await
        .map_err(|e| NotifyError::Worker(std::io::Error::other(e)))?
}

fn exchange(key: &AccessKey, message: &[u8]) -> Result<(), NotifyError> {
    let addr =
        SocketAddr::from_abstract_name(key.socket.as_bytes()).map_err(NotifyError::Worker)?;
    let mut stream = UnixStream::connect_addr(&addr).map_err(NotifyError::Worker)?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .map_err(NotifyError::Worker)?;
    stream
        .write_all(&notify::encode_request(key, message))
        .and_then(|()| stream.shutdown(std::net::Shutdown::Write))
        .map_err(NotifyError::Worker)?;
    let mut reply = Vec::new();
    stream
        .take(1024)
        .read_to_end(&mut reply)
        .map_err(NotifyError::Worker)?;
    notify::decode_reply(&reply)
}
