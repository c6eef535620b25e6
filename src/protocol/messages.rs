//! Every message that crosses a socket, versioned together: one file per direction or feature,
//! re-exported here. Any change to a type in them must bump [`PROTOCOL_VERSION`]: peers compare
//! it in the handshake and refuse a mismatch.

use crate::autoalloc::info::{AllocationInfo, QueueInfo, QueueState};
use crate::autoalloc::state::DecisionInfo;
use crate::autoalloc::SubmitFailure;
use crate::autoalloc::{ManagerKind, QueueId, QueueParams};
use crate::common::idset::IdSet;
use crate::resources::{Allocation, ResourceAmount, ResourceDescriptor, ResourceRequestVariants};
use serde::{Deserialize, Serialize};

/// Version of the wire format; compared in the handshake.
pub const PROTOCOL_VERSION: u32 = 9;
/// Version of `hq` itself, also compared (access files carry it too).
pub const HQ_VERSION: &str = env!("CARGO_PKG_VERSION");

pub type JobId = u32;
pub type TaskId = u32;
pub type WorkerId = u32;
pub type InstanceId = u32;

mod client;
mod dashboard;
mod hardware;
mod submit;
mod worker;

pub use client::*;
pub use dashboard::*;
pub use hardware::*;
pub use submit::*;
pub use worker::*;
