//! The scheduling core: a synchronous state machine with no sockets, clocks or tokio. The server
//! feeds it events (workers come and go, tasks become ready, finish, jobs are cancelled) and
//! asks for a pass, which returns assignments with concrete resource allocations.

#[cfg(test)]
mod chain_tests;
mod core;
mod demand;
#[cfg(test)]
mod demand_tests;
mod dump;
mod order;
mod pass;
#[cfg(test)]
mod pass_tests;
mod queued;
mod ready;
mod task_map;
#[cfg(test)]
mod tests;
mod utilization;

pub use self::core::{Assignment, ReqId, Scheduler, TaskKey, Workers};
pub use self::demand::{DemandQuery, DemandReport, Unrunnable};
pub use self::pass::{PassResult, PLACEMENTS_PER_CHECK};
