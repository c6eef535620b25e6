//! The one integration-test binary: drives the real `hq` (server, workers, client as separate
//! processes on loopback, in temporary directories).

mod basic;
mod utils;
