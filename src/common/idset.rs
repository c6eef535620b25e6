//! Sets of u32 IDs stored as sorted inclusive ranges, with HyperQueue's selector syntax
//! (`1-5,7`, `0-10:2`, `1_000`) for parsing and its compressed form (`1-3,5`) for printing.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A set of IDs kept as sorted, non-overlapping, non-adjacent inclusive ranges, so that a
/// million-task array costs a few bytes. Deserialising checks that order, so a set from the wire
/// or the journal keeps the invariants every method relies on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawIdSet")]
pub struct IdSet {
    ranges: Vec<(u32, u32)>,
}

/// The serialised form of [`IdSet`], checked before it becomes one.
#[derive(Deserialize)]
struct RawIdSet {
    ranges: Vec<(u32, u32)>,
}

impl TryFrom<RawIdSet> for IdSet {
    type Error = String;

    fn try_from(raw: RawIdSet) -> Result<Self, String> {
        let ranges = raw.ranges;
        let ordered = ranges.iter().all(|(s, e)| s <= e)
            && ranges
                .windows(2)
                .all(|w| w[0].1.checked_add(1).is_some_and(|next| next < w[1].0));
        if !ordered {
            return Err("ID ranges are not sorted, disjoint and non-adjacent".into());
        }
        Ok(IdSet { ranges })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdSetError {
    #[error("invalid ID `{0}`: expected a non-negative integer")]
    InvalidNumber(String),
    #[error("invalid range `{0}`: the start must not be larger than the end")]
    ReversedRange(String),
    #[error("invalid step in `{0}`: the step must be at least 1 and at most end - start")]
    InvalidStep(String),
    #[error("Ranges overlap")]
    Overlap,
    #[error("empty ID selector")]
    Empty,
    #[error(
        "`{0}` names {1} IDs with a step; at most {MAX_STEPPED_IDS} IDs may be given with steps \
         (a range without a step, like `0-1000000`, has no limit)"
    )]
    TooManyStepped(String, u64),
}

/// Most IDs a selector may name through ranges with a step (`0-10:2`): each such ID is stored
/// on its own, so `0-4294967295:2` would take gigabytes.
pub const MAX_STEPPED_IDS: u64 = 1_000_000;

impl IdSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding `start..=end`.
    pub fn from_range(start: u32, end: u32) -> Self {
        if start > end {
            return Self::default();
        }
        Self {
            ranges: vec![(start, end)],
        }
    }

    /// Builds a set from arbitrary IDs (duplicates are merged).
    pub fn from_ids(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut v: Vec<u32> = ids.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        let mut set = IdSet::new();
        for id in v {
            set.push_sorted(id);
        }
        set
    }

    /// Builds a set from sorted, non-overlapping inclusive ranges (adjacent ones are merged).
    pub fn from_sorted_ranges(ranges: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let mut set = IdSet::new();
        for (s, e) in ranges {
            match set.ranges.last_mut() {
                Some((_, end)) if end.checked_add(1) == Some(s) => *end = e,
                _ => set.ranges.push((s, e)),
            }
        }
        set
    }

    /// Appends an ID that is larger than every ID already present.
    fn push_sorted(&mut self, id: u32) {
        match self.ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(id) => *end = id,
            _ => self.ranges.push((id, id)),
        }
    }

    /// Parses the selector syntax (no `all`/`last`; callers handle those words).
    pub fn parse(text: &str) -> Result<Self, IdSetError> {
        let mut items: Vec<(u32, u32, u32)> = Vec::new();
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(IdSetError::Empty);
            }
            items.push(parse_item(item)?);
        }
        items.sort_unstable();
        let stepped: u64 = items
            .iter()
            .filter(|(_, _, step)| *step > 1)
            .map(|(s, e, step)| ((e - s) / step) as u64 + 1)
            .sum();
        if stepped > MAX_STEPPED_IDS {
            return Err(IdSetError::TooManyStepped(text.trim().to_string(), stepped));
        }
        let mut set = IdSet::new();
        let mut last_end: Option<u32> = None;
        for (start, end, step) in items {
            if let Some(prev) = last_end {
                if start <= prev {
                    return Err(IdSetError::Overlap);
                }
            }
            if step == 1 {
                match set.ranges.last_mut() {
                    Some((_, e)) if *e + 1 == start => *e = end,
                    _ => set.ranges.push((start, end)),
                }
            } else {
                let mut id = start;
                while id <= end {
                    set.push_sorted(id);
                    id = match id.checked_add(step) {
                        Some(n) => n,
                        None => break,
                    };
                }
            }
            last_end = Some(end);
        }
        Ok(set)
    }

    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(s, e)| (*e - *s) as u64 + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, id: u32) -> bool {
        let idx = self.ranges.partition_point(|(_, e)| *e < id);
        self.ranges.get(idx).is_some_and(|(s, _)| *s <= id)
    }

    pub fn max(&self) -> Option<u32> {
        self.ranges.last().map(|(_, e)| *e)
    }

    pub fn min(&self) -> Option<u32> {
        self.ranges.first().map(|(s, _)| *s)
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranges.iter().flat_map(|(s, e)| *s..=*e)
    }

    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    /// The IDs of `self` that are smaller than `limit`.
    pub fn below(&self, limit: u32) -> IdSet {
        let ranges = self
            .ranges
            .iter()
            .filter(|(s, _)| *s < limit)
            .map(|(s, e)| (*s, (*e).min(limit - 1)))
            .collect();
        IdSet { ranges }
    }

    /// Every ID moved up by `offset` (saturating at `u32::MAX`).
    pub fn shifted(&self, offset: u32) -> IdSet {
        let ranges = self
            .ranges
            .iter()
            .map(|(s, e)| (s.saturating_add(offset), e.saturating_add(offset)))
            .collect();
        IdSet { ranges }
    }

    /// Whether `self` and `other` share an ID.
    pub fn intersects(&self, other: &IdSet) -> bool {
        self.first_common(other).is_some()
    }

    /// The smallest ID in both sets.
    pub fn first_common(&self, other: &IdSet) -> Option<u32> {
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = (self.ranges[i], other.ranges[j]);
            if a.1 < b.0 {
                i += 1;
            } else if b.1 < a.0 {
                j += 1;
            } else {
                return Some(a.0.max(b.0));
            }
        }
        None
    }

    /// The IDs in either set; linear in the number of ranges, never in the number of IDs.
    pub fn union(&self, other: &IdSet) -> IdSet {
        let mut all: Vec<(u32, u32)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        all.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(all.len());
        for (s, e) in all {
            match merged.last_mut() {
                Some((_, end)) if s <= end.saturating_add(1) => *end = (*end).max(e),
                _ => merged.push((s, e)),
            }
        }
        IdSet { ranges: merged }
    }

    /// The IDs of `self` that are keys of `existing` (found by range queries), and the rest.
    pub fn split_existing<V>(
        &self,
        existing: &std::collections::BTreeMap<u32, V>,
    ) -> (Vec<u32>, IdSet) {
        let mut found = Vec::new();
        for &(s, e) in &self.ranges {
            found.extend(existing.range(s..=e).map(|(k, _)| *k));
        }
        let missing = self.difference(&IdSet::from_ids(found.iter().copied()));
        (found, missing)
    }

    /// The IDs of `self` that are not in `other`; linear in the number of ranges.
    pub fn difference(&self, other: &IdSet) -> IdSet {
        let mut out = Vec::new();
        let mut j = 0;
        for &(s, e) in &self.ranges {
            let mut start = s;
            while j < other.ranges.len() && other.ranges[j].1 < start {
                j += 1;
            }
            let mut k = j;
            let mut open = true;
            while k < other.ranges.len() && other.ranges[k].0 <= e {
                let (os, oe) = other.ranges[k];
                if os > start {
                    out.push((start, os - 1));
                }
                if oe >= e {
                    open = false;
                    break;
                }
                start = oe + 1;
                k += 1;
            }
            if open {
                out.push((start, e));
            }
        }
        IdSet { ranges: out }
    }
}

fn parse_number(text: &str, whole: &str) -> Result<u32, IdSetError> {
    let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_digit()) {
        return Err(IdSetError::InvalidNumber(whole.to_string()));
    }
    cleaned
        .parse::<u32>()
        .map_err(|_| IdSetError::InvalidNumber(whole.to_string()))
}

/// Parses `7`, `1-5` or `0-10:2` into (start, end, step).
fn parse_item(item: &str) -> Result<(u32, u32, u32), IdSetError> {
    let (range, step) = match item.split_once(':') {
        Some((r, s)) => (r, Some(parse_number(s, item)?)),
        None => (item, None),
    };
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (parse_number(a, item)?, parse_number(b, item)?),
        None => {
            if step.is_some() {
                return Err(IdSetError::InvalidStep(item.to_string()));
            }
            let n = parse_number(range, item)?;
            (n, n)
        }
    };
    if start > end {
        return Err(IdSetError::ReversedRange(item.to_string()));
    }
    let step = step.unwrap_or(1);
    if step == 0 || (step > 1 && step > end - start) {
        return Err(IdSetError::InvalidStep(item.to_string()));
    }
    Ok((start, end, step))
}

impl fmt::Display for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (s, e)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if s == e {
                write!(f, "{s}")?;
            } else {
                write!(f, "{s}-{e}")?;
            }
        }
        Ok(())
    }
}

impl FromIterator<u32> for IdSet {
    fn from_iter<T: IntoIterator<Item = u32>>(iter: T) -> Self {
        IdSet::from_ids(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_selector_forms() {
        assert_eq!(IdSet::parse("1-3,5").unwrap().to_string(), "1-3,5");
        assert_eq!(IdSet::parse("0-10:2").unwrap().to_string(), "0,2,4,6,8,10");
        assert_eq!(IdSet::parse("2, 8-10").unwrap().to_string(), "2,8-10");
        assert_eq!(IdSet::parse("1-1_000_000").unwrap().len(), 1_000_000);
        assert_eq!(IdSet::parse("3,1-2").unwrap().to_string(), "1-3");
    }

    #[test]
    fn rejects_bad_selectors() {
        assert_eq!(IdSet::parse("1-3,2"), Err(IdSetError::Overlap));
        assert!(matches!(
            IdSet::parse("5-1"),
            Err(IdSetError::ReversedRange(_))
        ));
        assert!(matches!(
            IdSet::parse("0-4:0"),
            Err(IdSetError::InvalidStep(_))
        ));
        assert!(matches!(
            IdSet::parse("0-4:5"),
            Err(IdSetError::InvalidStep(_))
        ));
        assert!(matches!(
            IdSet::parse("x"),
            Err(IdSetError::InvalidNumber(_))
        ));
        assert!(matches!(IdSet::parse("1,,2"), Err(IdSetError::Empty)));
        assert_eq!(
            IdSet::parse("0-4294967295:2"),
            Err(IdSetError::TooManyStepped(
                "0-4294967295:2".into(),
                2147483648
            ))
        );
        assert_eq!(IdSet::parse("0-1999998:2").unwrap().len(), 1_000_000);
        assert_eq!(IdSet::parse("0-4294967295").unwrap().len(), 1 << 32);
    }

    #[test]
    fn set_operations_work_on_ranges() {
        let a = IdSet::parse("0-10,20-30").unwrap();
        let b = IdSet::parse("5-25").unwrap();
        assert_eq!(a.difference(&b).to_string(), "0-4,26-30");
        assert_eq!(b.difference(&a).to_string(), "11-19");
        assert_eq!(a.union(&b).to_string(), "0-30");
        assert_eq!(a.first_common(&b), Some(5));
        let all = IdSet::from_range(0, u32::MAX);
        assert_eq!(all.difference(&a).to_string(), "11-19,31-4294967295");
        assert_eq!(a.difference(&all), IdSet::new());
        let existing: std::collections::BTreeMap<u32, ()> = [(3, ()), (7, ())].into();
        let (found, missing) = all.split_existing(&existing);
        assert_eq!(found, vec![3, 7]);
        assert_eq!(missing.to_string(), "0-2,4-6,8-4294967295");
    }

    #[test]
    fn deserialising_checks_the_order() {
        let bytes = postcard::to_allocvec(&vec![(5u32, 9u32), (1, 2)]).unwrap();
        assert!(postcard::from_bytes::<IdSet>(&bytes).is_err());
        let bytes = postcard::to_allocvec(&vec![(1u32, 2u32), (3, 4)]).unwrap();
        assert!(
            postcard::from_bytes::<IdSet>(&bytes).is_err(),
            "adjacent ranges"
        );
        let good = IdSet::parse("1-2,4").unwrap();
        let bytes = postcard::to_allocvec(&good).unwrap();
        assert_eq!(postcard::from_bytes::<IdSet>(&bytes).unwrap(), good);
    }

    #[test]
    fn contains_and_below() {
        let s = IdSet::parse("1-3,10-20").unwrap();
        assert!(s.contains(2) && s.contains(15) && !s.contains(5) && !s.contains(21));
        assert_eq!(s.below(12).to_string(), "1-3,10-11");
        assert_eq!(IdSet::from_ids([5, 1, 2, 3]).to_string(), "1-3,5");
    }
}
