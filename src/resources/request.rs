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

    /// Parses `<amount>[ <policy>]` or `all`; `0` and more than 4 decimals are rejected.
    pub fn parse(text: &str) -> Result<Self, ResourceError> {
        let t = text.trim();
        if t == "all" {
            return Ok(AllocationRequest::All);
        }
        let mut words = t.split_whitespace();
        let amount_text = words.next().ok_or_else(|| {
            ResourceError::request(text, "expected an amount like `2`, `0.5 compact` or `all`")
        })?;
        let amount = ResourceAmount::parse(amount_text)?;
        if amount.is_zero() {
            return Err(ResourceError::ZeroAmount);
        }
        let policy = words.next().unwrap_or("compact");
        if let Some(extra) = words.next() {
            return Err(ResourceError::request(
                text,
                format!("unexpected `{extra}`; write `<amount> [<policy>]`, e.g. `4 compact!`"),
            ));
        }
        Self::with_policy(amount, policy).ok_or_else(|| {
            ResourceError::request(
                text,
                format!(
                    "unknown policy `{policy}`; use compact, compact!, tight, tight! or scatter"
                ),
            )
        })
    }

    /// Builds a request from an amount and a policy name (`compact`, `compact!`, `tight`,
    /// `tight!`, `scatter`).
    pub fn with_policy(amount: ResourceAmount, policy: &str) -> Option<Self> {
        Some(match policy {
            "compact" => AllocationRequest::Compact(amount),
            "compact!" => AllocationRequest::ForceCompact(amount),
            "tight" => AllocationRequest::Tight(amount),
            "tight!" => AllocationRequest::ForceTight(amount),
            "scatter" => AllocationRequest::Scatter(amount),
            _ => return None,
        })
    }

    /// The same policy with another amount (`All` stays `All`).
    pub fn with_amount(&self, amount: ResourceAmount) -> Self {
        match self {
            AllocationRequest::Compact(_) => AllocationRequest::Compact(amount),
            AllocationRequest::ForceCompact(_) => AllocationRequest::ForceCompact(amount),
            AllocationRequest::Tight(_) => AllocationRequest::Tight(amount),
            AllocationRequest::ForceTight(_) => AllocationRequest::ForceTight(amount),
            AllocationRequest::Scatter(_) => AllocationRequest::Scatter(amount),
            AllocationRequest::All => AllocationRequest::All,
        }
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

    /// Checks one variant: single-node requests name each resource once with a non-zero
    /// amount; multi-node requests carry no resources.
    pub fn validate(&self) -> Result<(), ResourceError> {
        if self.n_nodes > 0 {
            if !self.resources.is_empty() {
                return Err(ResourceError::InvalidVariants(
                    "a multi-node request (`--nodes`) reserves whole workers and cannot also \
                     request resources; remove `--cpus`/`--resource`"
                        .into(),
                ));
            }
            return Ok(());
        }
        if self.resources.is_empty() {
            return Err(ResourceError::InvalidVariants(
                "Resource request is empty: request at least one resource, e.g. `cpus = 1`".into(),
            ));
        }
        for (i, entry) in self.resources.iter().enumerate() {
            super::descriptor::validate_name(&entry.resource)?;
            if self.resources[..i]
                .iter()
                .any(|e| e.resource == entry.resource)
            {
                return Err(ResourceError::DefinedTwice(entry.resource.clone()));
            }
            if entry.request.amount().is_some_and(ResourceAmount::is_zero) {
                return Err(ResourceError::ZeroAmount);
            }
        }
        Ok(())
    }
}

/// The alternatives of one task (1 to 32); the heaviest that fits wins, equal weights in the
/// order given (see [`ResourceRequestVariants::by_weight`]).
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

    /// The largest weight of a variant: how much the scheduler values the task (resources.md
    /// "Weights").
    pub fn max_weight(&self) -> ResourceAmount {
        self.variants
            .iter()
            .map(|v| v.weight)
            .max()
            .unwrap_or(ResourceAmount::ONE)
    }

    /// Variant indices in the order the scheduler tries them: higher weight first, equal
    /// weights in the order given (so without weights, the first variant that fits wins).
    pub fn by_weight(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.variants.len().min(MAX_VARIANTS);
        let mut order = [0u8; MAX_VARIANTS];
        for (i, o) in order.iter_mut().enumerate().take(n) {
            *o = i as u8;
        }
        // Stable: ties keep their order. At most 32 entries, sorted without allocating.
        order[..n].sort_by_key(|&i| std::cmp::Reverse(self.variants[i as usize].weight));
        order.into_iter().take(n).map(usize::from)
    }

    pub fn validate(&self) -> Result<(), ResourceError> {
        if self.variants.is_empty() || self.variants.len() > MAX_VARIANTS {
            return Err(ResourceError::InvalidVariants(format!(
                "a task needs between 1 and {MAX_VARIANTS} resource variants, found {}",
                self.variants.len()
            )));
        }
        let multi = self.is_multi_node();
        if self.variants.iter().any(|v| (v.n_nodes > 0) != multi) {
            return Err(ResourceError::InvalidVariants(
                "variants must be all single-node or all multi-node".into(),
            ));
        }
        self.variants.iter().try_for_each(|v| v.validate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AllocationRequest, ResourceError> {
        AllocationRequest::parse(text)
    }

    #[test]
    fn variants_are_tried_heaviest_first_ties_in_order() {
        let v = |w: u64| ResourceRequest {
            weight: ResourceAmount(w),
            ..ResourceRequest::default_cpu()
        };
        let rv = ResourceRequestVariants {
            variants: vec![v(10_000), v(30_000), v(10_000), v(30_000)],
        };
        assert_eq!(rv.by_weight().collect::<Vec<_>>(), [1, 3, 0, 2]);
        assert_eq!(rv.max_weight(), ResourceAmount(30_000));
        let plain = ResourceRequestVariants {
            variants: vec![v(10_000), v(10_000)],
        };
        assert_eq!(plain.by_weight().collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn parses_requests() {
        assert_eq!(
            parse("2").unwrap(),
            AllocationRequest::Compact(ResourceAmount::whole(2))
        );
        assert_eq!(parse("4 compact!").unwrap().to_string(), "4 compact!");
        assert_eq!(parse("  4   tight! ").unwrap().to_string(), "4 tight!");
        assert_eq!(parse("0.5").unwrap().to_string(), "0.5 compact");
        assert_eq!(parse("1.1 scatter").unwrap().to_string(), "1.1 scatter");
        assert_eq!(parse("1_000 tight").unwrap().to_string(), "1000 tight");
        assert_eq!(parse("all").unwrap(), AllocationRequest::All);
        assert_eq!(parse("all").unwrap().to_string(), "all");
        assert_eq!(parse("all").unwrap().amount(), None);
    }

    #[test]
    fn rejects_bad_requests() {
        assert_eq!(parse("0"), Err(ResourceError::ZeroAmount));
        assert_eq!(parse("0.0 compact"), Err(ResourceError::ZeroAmount));
        assert_eq!(
            parse("0.00001"),
            Err(ResourceError::PrecisionExceeded("0.00001".into()))
        );
        let err = parse("2 sideways").unwrap_err().to_string();
        assert!(
            err.contains("`sideways`") && err.contains("compact!"),
            "{err}"
        );
        assert!(parse("2 compact extra")
            .unwrap_err()
            .to_string()
            .contains("`extra`"));
        assert!(parse("").is_err());
        assert!(parse("x").is_err());
    }

    fn request(entries: &[(&str, &str)]) -> ResourceRequest {
        let mut r = ResourceRequest::default();
        for (name, req) in entries {
            r.add(name, parse(req).unwrap()).unwrap();
        }
        r
    }

    #[test]
    fn validates_requests_and_variants() {
        assert!(request(&[("cpus", "1"), ("gpus", "0.5")])
            .validate()
            .is_ok());
        assert!(ResourceRequest::default().validate().is_err());
        let mut r = request(&[("cpus", "1")]);
        assert_eq!(
            r.add("cpus", AllocationRequest::All),
            Err(ResourceError::DefinedTwice("cpus".into()))
        );
        r.resources.push(r.resources[0].clone());
        assert_eq!(
            r.validate(),
            Err(ResourceError::DefinedTwice("cpus".into()))
        );
        let multi = ResourceRequest {
            n_nodes: 2,
            ..Default::default()
        };
        assert!(multi.validate().is_ok());
        let mixed = ResourceRequestVariants {
            variants: vec![ResourceRequest::default_cpu(), multi.clone()],
        };
        assert!(mixed.validate().is_err());
        let too_many = ResourceRequestVariants {
            variants: vec![ResourceRequest::default_cpu(); MAX_VARIANTS + 1],
        };
        assert!(too_many.validate().is_err());
        assert!(ResourceRequestVariants::single(multi).is_multi_node());
        let bad_multi = ResourceRequest {
            n_nodes: 1,
            ..ResourceRequest::default_cpu()
        };
        assert!(bad_multi.validate().is_err());
    }

    #[test]
    fn json_shape() {
        let json = serde_json::to_value(ResourceRequest::default_cpu()).unwrap();
        assert_eq!(json["resources"][0]["request"]["Compact"], 10000);
        let all = serde_json::to_value(AllocationRequest::All).unwrap();
        assert_eq!(all, serde_json::json!("All"));
    }
}
