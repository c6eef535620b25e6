//! The resource model: fixed-point amounts, worker pools (descriptors), task requests with
//! variants, and the allocator that picks concrete labels (which CPUs, which GPUs).
//!
//! Everything here is pure: no I/O, no clock. Hardware detection lives in `worker::hwdetect`.

pub mod allocator;
pub mod amount;
pub mod coupling;
pub mod descriptor;
mod descriptor_serde;
pub mod fit;
pub mod flags;
mod policy;
mod pool_parse;
pub mod request;

pub use allocator::{Allocation, ResourceAllocation, WorkerAllocator};
pub use amount::ResourceAmount;
pub use coupling::{CouplingWeight, ResourceCoupling};
pub use descriptor::{ResourceDescriptor, ResourceDescriptorItem, ResourceDescriptorKind};
pub use flags::{variants_from_cli, worker_pools_from_cli, WorkerPoolFlags};
pub use request::{
    AllocationRequest, ResourceRequest, ResourceRequestEntry, ResourceRequestVariants,
};

/// Name of the CPU pool, which every worker has and every CLI task requests by default.
pub const CPU_RESOURCE_NAME: &str = "cpus";
/// Name of the NVIDIA GPU pool (sets `CUDA_VISIBLE_DEVICES`).
pub const NVIDIA_GPU_RESOURCE_NAME: &str = "gpus/nvidia";
/// Name of the AMD GPU pool (sets `ROCR_VISIBLE_DEVICES`).
pub const AMD_GPU_RESOURCE_NAME: &str = "gpus/amd";
/// Name of the memory pool (a sum pool in MiB).
pub const MEM_RESOURCE_NAME: &str = "mem";

/// Errors in resource definitions and requests; messages name the offending text and say how
/// to fix it. Where the specification gives a message, it is used verbatim.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ResourceError {
    /// Kept for callers that build their own messages.
    #[error("{0}")]
    Invalid(String),
    #[error("Zero resources cannot be requested")]
    ZeroAmount,
    #[error("Resource precision exceeded: at most 4 decimal digits are allowed in `{0}`")]
    PrecisionExceeded(String),
    #[error("Resource {0} defined twice")]
    DefinedTwice(String),
    #[error("invalid amount `{0}`: expected a non-negative number such as `2`, `0.5` or `1_000`")]
    InvalidAmount(String),
    #[error(
        "invalid amount `{0}`: at most 4294967295 of one resource can be requested or provided"
    )]
    AmountTooLarge(String),
    #[error(
        "invalid resource name `{0}`: a name starts with an ASCII letter followed by ASCII \
         letters, digits or `/` (e.g. `gpus/nvidia`)"
    )]
    InvalidName(String),
    #[error("invalid resource definition `{text}`: {reason}")]
    InvalidDefinition { text: String, reason: String },
    #[error("Resource kind `sum` cannot be used with CPUs. CPUs must have identity")]
    SumForCpus,
    #[error(
        "CPUs are defined twice: `--cpus` and `--resource cpus=...` cannot be used together; \
         keep only one of them"
    )]
    CpusGivenTwice,
    #[error("You have to specify --cpus explicitly when opting out of CPU automatic detection")]
    CpusRequired,
    #[error("invalid resource request `{text}`: {reason}")]
    InvalidRequest { text: String, reason: String },
    #[error("invalid resource variants: {0}")]
    InvalidVariants(String),
    #[error("invalid coupling `{text}`: {reason}")]
    InvalidCoupling { text: String, reason: String },
    #[error(
        "Resource not found: {0} (named in `--coupling`; define the pool with `--resource` \
         or fix the name)"
    )]
    CouplingUnknownResource(String),
    #[error(
        "Resource '{0}' has only a single group; only pools with several groups \
         (`[[..],[..]]` or `NxM`) can be coupled"
    )]
    CouplingSingleGroup(String),
    #[error(
        "Invalid group id {group} for resource '{resource}' in `--coupling`; groups are \
         numbered from 0"
    )]
    CouplingInvalidGroup { group: u32, resource: String },
    /// The value of one command-line flag was invalid: names the flag and the value as given.
    #[error("invalid value `{value}` for `{flag}`: {inner}")]
    InFlag {
        flag: &'static str,
        value: String,
        inner: Box<ResourceError>,
    },
}

impl ResourceError {
    pub(crate) fn definition(text: &str, reason: impl Into<String>) -> Self {
        ResourceError::InvalidDefinition {
            text: text.to_string(),
            reason: reason.into(),
        }
    }

    /// Names the flag (`--cpus`, `--resource`) whose value `value` caused this error.
    pub(crate) fn in_flag(self, flag: &'static str, value: &str) -> Self {
        ResourceError::InFlag {
            flag,
            value: value.to_string(),
            inner: Box::new(self),
        }
    }

    /// The error without the flag context added by [`ResourceError::in_flag`].
    pub fn root(&self) -> &ResourceError {
        match self {
            ResourceError::InFlag { inner, .. } => inner.root(),
            other => other,
        }
    }

    pub(crate) fn request(text: &str, reason: impl Into<String>) -> Self {
        ResourceError::InvalidRequest {
            text: text.to_string(),
            reason: reason.into(),
        }
    }
}
