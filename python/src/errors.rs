//! The exceptions the native module raises, and how client and planner errors map to them.

use hyperqueue::client::ClientError;
use hyperqueue::plan::error::Diag;
use hyperqueue::protocol::ProtocolError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _hq,
    HqError,
    PyException,
    "Base of the errors of hq: the server refused a request, or something unexpected happened."
);
create_exception!(
    _hq,
    HqConnectionError,
    HqError,
    "The server cannot be reached (no server directory, server down, wrong version), or the connection was lost."
);
create_exception!(
    _hq,
    InvalidJobError,
    HqError,
    "The job is invalid: a cycle, an unknown dependency, no tasks, a bad resource request."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("HqError", py.get_type::<HqError>())?;
    m.add("HqConnectionError", py.get_type::<HqConnectionError>())?;
    m.add("InvalidJobError", py.get_type::<InvalidJobError>())?;
    Ok(())
}

pub fn client_error(e: ClientError) -> PyErr {
    match e {
        ClientError::Server(_)
        | ClientError::Unexpected { .. }
        | ClientError::Protocol(ProtocolError::TooLarge { .. }) => HqError::new_err(e.to_string()),
        _ => HqConnectionError::new_err(e.to_string()),
    }
}

/// A planner problem with the message a job file gets (its hint speaks of TOML tables, so it
/// is left out).
pub fn plan_error(d: Diag) -> PyErr {
    InvalidJobError::new_err(d.message.clone())
}

pub fn invalid(message: impl Into<String>) -> PyErr {
    InvalidJobError::new_err(message.into())
}
