//! The resource model: fixed-point amounts, worker pools (descriptors), task requests with
//! variants, and the allocator that picks concrete labels (which CPUs, which GPUs).

pub mod allocator;
pub mod amount;
pub mod descriptor;
pub mod request;

pub use allocator::{Allocation, ResourceAllocation, WorkerAllocator};
pub use amount::ResourceAmount;
pub use descriptor::{ResourceDescriptor, ResourceDescriptorItem, ResourceDescriptorKind};
pub use request::{
    AllocationRequest, ResourceRequest, ResourceRequestEntry, ResourceRequestVariants,
};

/// Errors in resource definitions and requests; messages name the offending text.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ResourceError {
    #[error("{0}")]
    Invalid(String),
    #[error("Zero resources cannot be requested")]
    ZeroAmount,
    #[error("Resource precision exceeded: at most 4 decimal digits are allowed in `{0}`")]
    PrecisionExceeded(String),
    #[error("Resource {0} defined twice")]
    DefinedTwice(String),
}
