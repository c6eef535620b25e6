//! The one integration-test binary: drives the real `hq` (server, workers, client as separate
//! processes on loopback, in temporary directories).

mod autoalloc;
mod basic;
mod cancel;
mod client_api;
mod dashboard;
mod deploy_ssh;
mod durability;
mod events;
mod flags;
mod hardening;
mod hostile;
mod jobfile;
mod jobfile_deps;
mod jobs;
mod lifecycle;
mod malformed;
mod notify;
mod open_jobs;
mod overview;
mod placeholders;
mod progress;
mod readme;
mod resilience;
mod resources;
mod resources_cli;
mod run;
mod security;
mod server;
mod streaming;
mod submit;
mod tasks;
mod utils;
mod worker;
mod worker_info;
mod workflows;
