//! hyperqueue: one binary (`hq`) that is the server, the worker and the client of a meta-scheduler
//! for HPC clusters. `main.rs` only dispatches into [`cli`].

pub mod autoalloc;
pub mod cli;
pub mod client;
pub mod common;
pub mod dashboard;
pub mod jobfile;
pub mod journal;
pub mod plan;
pub mod protocol;
pub mod resources;
pub mod scheduler;
pub mod server;
pub mod stream;
pub mod worker;
