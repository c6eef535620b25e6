//! `hyperqueue._hq`, the native half of the Python package: a connection over the crate's
//! client layer (authentication, encryption, protocol version), the crate's planner for jobs
//! built in Python, and the whole `hq` command line.

mod connection;
mod errors;
mod job;

use pyo3::prelude::*;

/// Runs the `hq` command line with `argv` (program name first) and returns its exit code.
/// `hq_binary`, when given, is what tasks see as `$HQ` (the console script, since this
/// process's executable is the interpreter).
#[pyfunction]
#[pyo3(signature = (argv, hq_binary=None))]
fn cli_main(py: Python<'_>, argv: Vec<String>, hq_binary: Option<String>) -> i32 {
    if let Some(path) = hq_binary {
        hyperqueue::worker::set_hq_binary(path);
    }
    py.detach(|| hyperqueue::cli::main_with_args(argv))
}

/// The protocol version this module speaks (servers of another version refuse it).
#[pyfunction]
fn protocol_version() -> u32 {
    hyperqueue::protocol::messages::PROTOCOL_VERSION
}

#[pymodule]
fn _hq(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<connection::ClientConnection>()?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(protocol_version, m)?)?;
    m.add("HQ_VERSION", hyperqueue::protocol::messages::HQ_VERSION)?;
    errors::register(m)?;
    Ok(())
}
