//! Automatic allocation: queues that submit Slurm/PBS jobs ("allocations") starting `hq`
//! workers when ready tasks could use them. The decision core is pure (state in, recorded
//! changes and decisions out); batch systems sit behind [`manager::QueueManager`]; the server's
//! `autoalloc` glue feeds events in and runs the commands without blocking the actor.

pub mod decide;
pub mod events;
pub mod info;
pub mod limiter;
pub mod manager;
pub mod params;
pub mod state;
pub mod tracking;

#[cfg(test)]
mod tests;

pub use decide::{decide, Decision};
pub use events::{AllocEvent, AllocationEnd, AllocationId, QueueId, SubmitFailure};
pub use params::{ManagerKind, QueueParams, WorkerParams};
pub use state::{AllocStatus, AutoAllocState, Queue};
