//! Task resource requests (`--cpus 4 compact!`, `--resource gpus=0.5`) and their variants.

use super::{ResourceAmount, ResourceError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How much of one resource a task wants, and how to pick labels across groups.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AllocationRequest {
    Compact(ResourceAmount),
    ForceCompact(ResourceAmount),
    Tight(ResourceAmount),
    ForceTight(ResourceAmount),
    Scatter(ResourceAmount),
    All,
}

impl AllocationRequest {
    /// The amount asked for; `None` for `all`.
    pub fn amount(&self) -> Option<ResourceAmount> {
        match self {
            AllocationRequest::Compact(a)
            | AllocationRequest::ForceCompact(a)
            | AllocationRequest::Tight(a)
            | AllocationRequest::ForceTight(a)
            | AllocationRequest::Scatter(a) => Some(*a),
            AllocationRequest::All => None,
        }
    }

    /// Parses `<amount>[ <policy>]` or `all`.
    pub fn parse(text: &str) -> Result<Self, ResourceError> {
        let t = text.trim();
        if t == "all" {
            return Ok(AllocationRequest::All);
        }
        let mut words = t.split_whitespace();
        let amount_text = words.next().ok_or_else(|| {
            ResourceError::Invalid(
                "empty resource request: expected an amount like `2` or `0.5 compact`".into(),
            )
        })?;
        let amount = ResourceAmount::parse(amount_text)?;
        if amount == ResourceAmount::ZERO {
            return Err(ResourceError::ZeroAmount);
        }
        let policy = words.next().unwrap_or("compact");
        if let Some(extra) = words.next() {
            return Err(ResourceError::Invalid(format!(
                "invalid resource request `{t}`: unexpected `{extra}`"
            )));
        }
        Ok(match policy {
            "compact" => AllocationRequest::Compact(amount),
            "compact!" => AllocationRequest::ForceCompact(amount),
            "tight" => AllocationRequest::Tight(amount),
            "tight!" => AllocationRequest::ForceTight(amount),
            "scatter" => AllocationRequest::Scatter(amount),
            other => {
                return Err(ResourceError::Invalid(format!(
                    "invalid policy `{other}` in `{t}`: use compact, compact!, tight, tight! or scatter"
                )))
            }
        })
    }

    /// `compact`, `compact!`, ... as shown after the amount.
    pub fn policy_name(&self) -> &'static str {
        match self {
            AllocationRequest::Compact(_) => "compact",
            AllocationRequest::ForceCompact(_) => "compact!",
            AllocationRequest::Tight(_) => "tight",
            AllocationRequest::ForceTight(_) => "tight!",
            AllocationRequest::Scatter(_) => "scatter",
            AllocationRequest::All => "all",
        }
    }
}

impl fmt::Display for AllocationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.amount() {
            Some(a) => write!(f, "{a} {}", self.policy_name()),
            None => f.write_str("all"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceRequestEntry {
    pub resource: String,
    pub request: AllocationRequest,
}

/// One variant: resources (single-node) or a node count (multi-node), plus time and weight.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceRequest {
    /// > 0 for a multi-node task that owns whole workers.
    pub n_nodes: u32,
    /// Minimal remaining worker lifetime, in seconds.
    pub min_time_secs: u64,
    /// Scheduler weight in 1/10000 units (1.0 = 10000).
    pub weight: ResourceAmount,
    pub resources: Vec<ResourceRequestEntry>,
}

impl Default for ResourceRequest {
    fn default() -> Self {
        ResourceRequest {
            n_nodes: 0,
            min_time_secs: 0,
            weight: ResourceAmount::ONE,
            resources: vec![],
        }
    }
}

impl ResourceRequest {
    /// The request of a plain CLI task: `cpus = 1 compact`.
    pub fn default_cpu() -> Self {
        ResourceRequest {
            resources: vec![ResourceRequestEntry {
                resource: "cpus".into(),
                request: AllocationRequest::Compact(ResourceAmount::ONE),
            }],
            ..Default::default()
        }
    }

    pub fn get(&self, name: &str) -> Option<&AllocationRequest> {
        self.resources
            .iter()
            .find(|e| e.resource == name)
            .map(|e| &e.request)
    }

    /// Adds an entry, refusing a second one for the same resource.
    pub fn add(&mut self, name: &str, request: AllocationRequest) -> Result<(), ResourceError> {
        if self.get(name).is_some() {
            return Err(ResourceError::DefinedTwice(name.to_string()));
        }
        self.resources.push(ResourceRequestEntry {
            resource: name.to_string(),
            request,
        });
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ResourceError> {
        if self.n_nodes == 0 && self.resources.is_empty() {
            return Err(ResourceError::Invalid("Resource request is empty".into()));
        }
        Ok(())
    }
}

/// The alternatives of one task (1 to 32); the first that fits wins.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceRequestVariants {
    pub variants: Vec<ResourceRequest>,
}

/// The maximum number of variants per task.
pub const MAX_VARIANTS: usize = 32;

impl ResourceRequestVariants {
    pub fn single(request: ResourceRequest) -> Self {
        ResourceRequestVariants {
            variants: vec![request],
        }
    }

    pub fn is_multi_node(&self) -> bool {
        self.variants.first().is_some_and(|v| v.n_nodes > 0)
    }

    pub fn validate(&self) -> Result<(), ResourceError> {
        if self.variants.is_empty() || self.variants.len() > MAX_VARIANTS {
            return Err(ResourceError::Invalid(format!(
                "a task needs between 1 and {MAX_VARIANTS} resource variants, found {}",
                self.variants.len()
            )));
        }
        let multi = self.is_multi_node();
        if self.variants.iter().any(|v| (v.n_nodes > 0) != multi) {
            return Err(ResourceError::Invalid(
                "resource variants must be all single-node or all multi-node".into(),
            ));
        }
        self.variants.iter().try_for_each(|v| v.validate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(
            AllocationRequest::parse("2").unwrap(),
            AllocationRequest::Compact(ResourceAmount::whole(2))
        );
        assert_eq!(
            AllocationRequest::parse("4 compact!").unwrap().to_string(),
            "4 compact!"
        );
        assert_eq!(
            AllocationRequest::parse("0.5").unwrap().to_string(),
            "0.5 compact"
        );
        assert_eq!(
            AllocationRequest::parse("all").unwrap(),
            AllocationRequest::All
        );
        assert_eq!(
            AllocationRequest::parse("0"),
            Err(ResourceError::ZeroAmount)
        );
        assert!(AllocationRequest::parse("2 sideways").is_err());
    }
}
