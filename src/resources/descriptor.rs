//! Worker resource pools (`--cpus`, `--resource NAME=DEF`): the descriptor types, human
//! summaries and the mapping from allocated label indices back to label strings.
//!
//! Parsing of pool definitions lives in `pool_parse` and is re-exported here.

use super::allocator::ResourceAllocation;
use super::coupling::ResourceCoupling;
use super::{ResourceAmount, ResourceError, CPU_RESOURCE_NAME, MEM_RESOURCE_NAME};
use std::borrow::Cow;

pub use super::pool_parse::{
    parse_cpu_definition, parse_resource_definition, parse_resource_flag, validate_name,
    MAX_POOL_LABELS,
};

/// Every pool a worker offers; `cpus` is always present on a running worker.
///
/// Serialised to JSON as `{"resources": [{"name", "kind": "range", "start", "end"}, ...],
/// "coupling": {"weights": []}}` (the descriptor format of cli.md); binary formats (postcard)
/// get a compact externally tagged form, since they cannot decode internally tagged enums.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceDescriptor {
    pub resources: Vec<ResourceDescriptorItem>,
    /// `--coupling`: pairs of groups by index into `resources`.
    pub coupling: ResourceCoupling,
}

/// One named pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceDescriptorItem {
    pub name: String,
    pub kind: ResourceDescriptorKind,
}

/// One pool: indexed labels (a list, groups of lists, an integer range) or a plain sum.
///
/// Label indices used by the allocator are positions in the flattened label order: list order,
/// groups one after another, or `start..=end` for ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceDescriptorKind {
    List { values: Vec<String> },
    Groups { groups: Vec<Vec<String>> },
    Range { start: u32, end: u32 },
    Sum { size: ResourceAmount },
}

impl ResourceDescriptorKind {
    /// `N` labels `0..N-1` in one group, or `N` groups of `M` labels numbered consecutively.
    pub fn regular_groups(n_groups: u32, group_size: u32) -> Self {
        if n_groups <= 1 {
            return ResourceDescriptorKind::Range {
                start: 0,
                end: group_size.saturating_sub(1),
            };
        }
        let groups = (0..n_groups)
            .map(|g| {
                (g * group_size..(g + 1) * group_size)
                    .map(|i| i.to_string())
                    .collect()
            })
            .collect();
        ResourceDescriptorKind::Groups { groups }
    }

    /// Builds an indexed pool from groups; a single group becomes a plain list.
    pub fn from_groups(mut groups: Vec<Vec<String>>) -> Self {
        if groups.len() == 1 {
            ResourceDescriptorKind::List {
                values: groups.pop().unwrap_or_default(),
            }
        } else {
            ResourceDescriptorKind::Groups { groups }
        }
    }

    /// Whether the pool hands out labels (everything but `sum`).
    pub fn is_indexed(&self) -> bool {
        !matches!(self, ResourceDescriptorKind::Sum { .. })
    }

    /// The groups of labels of an indexed pool (one group unless NUMA-like groups were given);
    /// empty for sum pools. Allocates; prefer [`Self::group_sizes`] and [`Self::label`].
    pub fn groups(&self) -> Vec<Vec<String>> {
        match self {
            ResourceDescriptorKind::List { values } => vec![values.clone()],
            ResourceDescriptorKind::Groups { groups } => groups.clone(),
            ResourceDescriptorKind::Range { start, end } => {
                vec![(*start..=*end).map(|i| i.to_string()).collect()]
            }
            ResourceDescriptorKind::Sum { .. } => vec![],
        }
    }

    /// Number of labels in each group (empty for sum pools).
    pub fn group_sizes(&self) -> Vec<usize> {
        match self {
            ResourceDescriptorKind::List { values } => vec![values.len()],
            ResourceDescriptorKind::Groups { groups } => groups.iter().map(Vec::len).collect(),
            ResourceDescriptorKind::Range { start, end } => {
                vec![(u64::from(*end) - u64::from(*start) + 1) as usize]
            }
            ResourceDescriptorKind::Sum { .. } => vec![],
        }
    }

    /// Number of labels of an indexed pool (0 for sum pools).
    pub fn label_count(&self) -> usize {
        self.group_sizes().iter().sum()
    }

    /// The label at a flattened index, if any.
    pub fn label(&self, index: u32) -> Option<Cow<'_, str>> {
        let index = index as usize;
        match self {
            ResourceDescriptorKind::List { values } => values.get(index).map(|s| s.as_str().into()),
            ResourceDescriptorKind::Groups { groups } => {
                let mut rest = index;
                for g in groups {
                    if rest < g.len() {
                        return Some(g[rest].as_str().into());
                    }
                    rest -= g.len();
                }
                None
            }
            ResourceDescriptorKind::Range { start, end } => {
                let label = u64::from(*start) + index as u64;
                (label <= u64::from(*end)).then(|| label.to_string().into())
            }
            ResourceDescriptorKind::Sum { .. } => None,
        }
    }

    /// Total amount in the pool.
    pub fn size(&self) -> ResourceAmount {
        match self {
            ResourceDescriptorKind::Sum { size } => *size,
            other => ResourceAmount::whole(other.label_count() as u64),
        }
    }

    /// One-line summary: count, `<n>x<size>` per distinct group size (smallest size first), or
    /// the sum (`mem` as a human size).
    pub fn summary(&self, name: &str) -> String {
        match self {
            ResourceDescriptorKind::Sum { size } if name == MEM_RESOURCE_NAME => format_mib(*size),
            ResourceDescriptorKind::Sum { size } => size.to_string(),
            ResourceDescriptorKind::Groups { groups } if groups.len() > 1 => {
                // Count of groups per distinct size, smallest size first.
                let mut sizes = std::collections::BTreeMap::<usize, usize>::new();
                for g in groups {
                    *sizes.entry(g.len()).or_default() += 1;
                }
                let parts: Vec<String> = sizes.iter().map(|(s, c)| format!("{c}x{s}")).collect();
                parts.join(" ")
            }
            other => other.label_count().to_string(),
        }
    }

    /// Full description as `hq worker hwdetect` prints it: `[0,1]`, `[[0,1],[2,3]]`,
    /// `range(1-3)` (`[5]` when start = end), `sum(1234)`. Labels that would not parse back
    /// unquoted are quoted.
    pub fn full_description(&self) -> String {
        fn list(values: &[String]) -> String {
            let items: Vec<Cow<str>> = values.iter().map(|v| quote_label(v)).collect();
            format!("[{}]", items.join(","))
        }
        match self {
            ResourceDescriptorKind::List { values } => list(values),
            ResourceDescriptorKind::Groups { groups } => {
                let inner: Vec<String> = groups.iter().map(|g| list(g)).collect();
                format!("[{}]", inner.join(","))
            }
            ResourceDescriptorKind::Range { start, end } if start == end => format!("[{start}]"),
            ResourceDescriptorKind::Range { start, end } => format!("range({start}-{end})"),
            ResourceDescriptorKind::Sum { size } => format!("sum({size})"),
        }
    }
}

fn quote_label(label: &str) -> Cow<'_, str> {
    let needs_quotes = label.is_empty()
        || label
            .chars()
            .any(|c| matches!(c, '[' | ']' | ',' | '"' | '\'') || c.is_whitespace());
    if needs_quotes {
        format!("\"{label}\"").into()
    } else {
        label.into()
    }
}

/// `mem` sizes are MiB: below 512 MiB as `N.NN MiB`, else `N.NN GiB`.
pub fn format_mib(size: ResourceAmount) -> String {
    let mib = size.as_f64();
    if mib < 512.0 {
        format!("{mib:.2} MiB")
    } else {
        format!("{:.2} GiB", mib / 1024.0)
    }
}

impl ResourceDescriptor {
    pub fn new(resources: Vec<ResourceDescriptorItem>) -> Self {
        ResourceDescriptor {
            resources,
            coupling: ResourceCoupling::default(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&ResourceDescriptorKind> {
        self.resources
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.kind)
    }

    /// Position of a pool (the `resource` index used in allocations).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.resources.iter().position(|r| r.name == name)
    }

    /// `cpus 2x8; gpus/nvidia 2; mem 62.71 GiB` (pools in a coupling end with ` [coupled]`).
    pub fn summary(&self) -> String {
        self.summaries(" ").join("; ")
    }

    /// `name: summary` lines, as in `hq worker info` and the `Summary:` of hwdetect; pools
    /// that take part in a coupling end with ` [coupled]`.
    pub fn summary_lines(&self) -> Vec<String> {
        self.summaries(": ")
    }

    fn summaries(&self, separator: &str) -> Vec<String> {
        self.resources
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let coupled = if self.coupling.involves(i as u32) {
                    " [coupled]"
                } else {
                    ""
                };
                format!("{}{separator}{}{coupled}", r.name, r.kind.summary(&r.name))
            })
            .collect()
    }

    /// Adds a pool, refusing a name that is already defined.
    pub fn add(&mut self, name: &str, kind: ResourceDescriptorKind) -> Result<(), ResourceError> {
        if self.get(name).is_some() {
            return Err(ResourceError::DefinedTwice(name.to_string()));
        }
        self.resources.push(ResourceDescriptorItem {
            name: name.to_string(),
            kind,
        });
        Ok(())
    }

    /// The label strings of an allocation, in allocation order (the partially used label last);
    /// empty for sum pools. Used for `HQ_CPUS`, `HQ_RESOURCE_VALUES_*`, `CUDA_VISIBLE_DEVICES`.
    pub fn labels_of(&self, alloc: &ResourceAllocation) -> Vec<String> {
        let Some(item) = self.resources.get(alloc.resource as usize) else {
            return Vec::new();
        };
        alloc
            .indices
            .iter()
            .filter_map(|(index, _)| item.kind.label(*index).map(Cow::into_owned))
            .collect()
    }

    /// Name of the pool an allocation refers to.
    pub fn name_of(&self, alloc: &ResourceAllocation) -> Option<&str> {
        self.resources
            .get(alloc.resource as usize)
            .map(|r| r.name.as_str())
    }

    /// Checks a descriptor that did not come from our parsers (wire, journal, JSON): valid
    /// unique names, non-empty pools, unique labels, no `sum` CPUs.
    pub fn validate(&self) -> Result<(), ResourceError> {
        for (i, item) in self.resources.iter().enumerate() {
            validate_name(&item.name)?;
            if self.resources[..i].iter().any(|r| r.name == item.name) {
                return Err(ResourceError::DefinedTwice(item.name.clone()));
            }
            let text = item.kind.full_description();
            match &item.kind {
                ResourceDescriptorKind::Sum { .. } if item.name == CPU_RESOURCE_NAME => {
                    return Err(ResourceError::SumForCpus)
                }
                ResourceDescriptorKind::Sum { size } if size.is_zero() => {
                    return Err(ResourceError::definition(&text, "the pool is empty"))
                }
                ResourceDescriptorKind::Range { start, end } if start > end => {
                    return Err(ResourceError::definition(&text, "start is larger than end"))
                }
                ResourceDescriptorKind::List { .. } | ResourceDescriptorKind::Groups { .. } => {
                    let sizes = item.kind.group_sizes();
                    if sizes.is_empty() || sizes.contains(&0) {
                        return Err(ResourceError::definition(
                            &text,
                            "the pool or one of its groups is empty",
                        ));
                    }
                    let mut labels: Vec<String> = item.kind.groups().concat();
                    labels.sort_unstable();
                    if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
                        return Err(ResourceError::definition(
                            &text,
                            format!("label `{}` occurs more than once", w[0]),
                        ));
                    }
                }
                _ => {}
            }
        }
        self.validate_coupling()
    }

    /// Coupled pairs must name existing groups of different (pool, group) places.
    fn validate_coupling(&self) -> Result<(), ResourceError> {
        for w in &self.coupling.weights {
            for (r, g) in [
                (w.resource1_idx, w.group1_idx),
                (w.resource2_idx, w.group2_idx),
            ] {
                let Some(item) = self.resources.get(r as usize) else {
                    return Err(ResourceError::CouplingUnknownResource(format!("#{r}")));
                };
                let groups = item.kind.group_sizes().len();
                if groups < 2 {
                    return Err(ResourceError::CouplingSingleGroup(item.name.clone()));
                }
                if g as usize >= groups {
                    return Err(ResourceError::CouplingInvalidGroup {
                        group: g,
                        resource: item.name.clone(),
                    });
                }
            }
            if (w.resource1_idx, w.group1_idx) >= (w.resource2_idx, w.group2_idx) || w.weight == 0 {
                return Err(ResourceError::InvalidCoupling {
                    text: format!("{w:?}"),
                    reason: "pairs must be ordered, distinct and have a positive weight".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::allocator::ResourceAllocation;

    fn kind(def: &str) -> ResourceDescriptorKind {
        parse_resource_definition(def).unwrap()
    }

    #[test]
    fn summaries() {
        assert_eq!(kind("2x4").summary("cpus"), "2x4");
        assert_eq!(
            kind("[[0,1],[2,3],[4,5],[6,7],[8,9],[a,b,c,d,e,f]]").summary("x"),
            "5x2 1x6"
        );
        assert_eq!(kind("[[0,1],[2],[10,11,12]]").summary("x"), "1x1 1x2 1x3");
        assert_eq!(kind("[[0,1,2]]").summary("x"), "3");
        assert_eq!(kind("range(1-3)").summary("x"), "3");
        assert_eq!(kind("sum(12.5)").summary("x"), "12.5");
        assert_eq!(kind("sum(64215.3)").summary("mem"), "62.71 GiB");
        assert_eq!(kind("sum(100)").summary("mem"), "100.00 MiB");
        let desc = ResourceDescriptor::new(vec![
            ResourceDescriptorItem {
                name: "cpus".into(),
                kind: kind("2x8"),
            },
            ResourceDescriptorItem {
                name: "gpus/nvidia".into(),
                kind: kind("[0,1]"),
            },
            ResourceDescriptorItem {
                name: "mem".into(),
                kind: kind("sum(64215.3)"),
            },
        ]);
        assert_eq!(desc.summary(), "cpus 2x8; gpus/nvidia 2; mem 62.71 GiB");
        assert_eq!(desc.summary_lines()[1], "gpus/nvidia: 2");
    }

    #[test]
    fn full_descriptions() {
        assert_eq!(kind("[0,1]").full_description(), "[0,1]");
        assert_eq!(kind("2x2").full_description(), "[[0,1],[2,3]]");
        assert_eq!(kind("range(1-3)").full_description(), "range(1-3)");
        assert_eq!(kind("range(5-5)").full_description(), "[5]");
        assert_eq!(kind("sum(1234)").full_description(), "sum(1234)");
        let quoted = kind(r#"["a b", "x,y", c]"#);
        assert_eq!(quoted.full_description(), r#"["a b","x,y",c]"#);
        assert_eq!(kind(&quoted.full_description()), quoted);
    }

    #[test]
    fn labels_by_flattened_index() {
        let groups = kind("[[a,b],[c,d,e]]");
        assert_eq!(groups.label(3).as_deref(), Some("d"));
        assert_eq!(groups.label(5), None);
        let range = kind("range(10-12)");
        assert_eq!(range.label(2).as_deref(), Some("12"));
        assert_eq!(range.label(3), None);
        assert_eq!(range.group_sizes(), vec![3]);

        let mut desc = ResourceDescriptor::default();
        desc.add("cpus", range).unwrap();
        desc.add("gpus", groups).unwrap();
        let alloc = ResourceAllocation {
            resource: 1,
            amount: ResourceAmount::new(1, 5000),
            indices: vec![(4, ResourceAmount::ONE), (0, ResourceAmount(5000))].into(),
        };
        assert_eq!(desc.labels_of(&alloc), vec!["e", "a"]);
        assert_eq!(desc.name_of(&alloc), Some("gpus"));
    }

    #[test]
    fn add_and_validate() {
        let mut desc = ResourceDescriptor::default();
        desc.add("cpus", kind("4x2")).unwrap();
        assert_eq!(
            desc.add("cpus", kind("[0]")).unwrap_err().to_string(),
            "Resource cpus defined twice"
        );
        assert!(desc.validate().is_ok());
        desc.resources.push(ResourceDescriptorItem {
            name: "x".into(),
            kind: ResourceDescriptorKind::Groups {
                groups: vec![vec!["a".into()], vec!["a".into()]],
            },
        });
        assert!(desc.validate().unwrap_err().to_string().contains("`a`"));
        let sum_cpus = ResourceDescriptor::new(vec![ResourceDescriptorItem {
            name: "cpus".into(),
            kind: ResourceDescriptorKind::Sum {
                size: ResourceAmount::ONE,
            },
        }]);
        assert_eq!(sum_cpus.validate(), Err(ResourceError::SumForCpus));
    }

    #[test]
    fn regular_groups() {
        assert_eq!(
            ResourceDescriptorKind::regular_groups(1, 4),
            ResourceDescriptorKind::Range { start: 0, end: 3 }
        );
        assert_eq!(
            ResourceDescriptorKind::regular_groups(2, 3).full_description(),
            "[[0,1,2],[3,4,5]]"
        );
    }
}
