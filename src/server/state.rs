//! Jobs and their tasks as the server keeps them: compact per-task records (40 bytes), bodies
//! stored once per group, counters kept up to date so listings never scan tasks.

use crate::common::idset::IdSet;
use crate::protocol::messages::*;
use crate::scheduler::ReqId;
use std::collections::HashMap;

/// One task. Everything shared with its siblings lives in its [`Group`].
#[derive(Clone, Debug)]
pub struct Task {
    pub id: TaskId,
    pub group: u32,
    pub status: TaskStatus,
    pub crash_count: u16,
    pub retries: u16,
    /// Instance ID the next execution gets.
    pub next_instance: InstanceId,
    pub unfinished_deps: u32,
    /// Worker of the current or last execution (0 = none).
    pub worker: WorkerId,
    /// When the worker reported the current (or last) execution's process started; 0 while an
    /// assigned execution has not started yet.
    pub started_ms: Stamp,
    pub finished_ms: Stamp,
}

/// A time in ms since the Unix epoch in 6 bytes (48 bits last until the year 10889), so that a
/// task record takes 40 bytes instead of 48 (10 million tasks: 80 MB less).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp([u16; 3]);

impl Stamp {
    pub fn new(ms: u64) -> Self {
        let ms = ms.min((1 << 48) - 1);
        Stamp([ms as u16, (ms >> 16) as u16, (ms >> 32) as u16])
    }

    pub fn ms(self) -> u64 {
        let [a, b, c] = self.0.map(u64::from);
        a | (b << 16) | (c << 32)
    }
}

impl Task {
    /// A new task of group `group`: waiting, never run.
    pub fn waiting(id: TaskId, group: u32) -> Self {
        Task {
            id,
            group,
            status: TaskStatus::Waiting,
            crash_count: 0,
            retries: 0,
            next_instance: 0,
            unfinished_deps: 0,
            worker: 0,
            started_ms: Stamp::default(),
            finished_ms: Stamp::default(),
        }
    }

    /// Instance ID of the current or last execution.
    pub fn instance(&self) -> InstanceId {
        self.next_instance.saturating_sub(1)
    }

    /// Assigned to a worker (resources held, instance fixed) but its process has not started:
    /// internally `Running`, shown as waiting.
    pub fn is_assigned(&self) -> bool {
        self.status == TaskStatus::Running && self.started_ms.ms() == 0
    }

    /// The state clients see: a task is running once its worker started it.
    pub fn shown_status(&self) -> TaskStatus {
        if self.is_assigned() {
            TaskStatus::Waiting
        } else {
            self.status
        }
    }
}

/// Tasks that share one body, one request and one dependency rule.
pub struct Group {
    pub ids: IdSet,
    pub entries: Option<Vec<Vec<u8>>>,
    pub body: TaskBody,
    pub deps: GroupDeps,
    pub req: ReqId,
}

impl Group {
    /// `HQ_ENTRY` of a task: the k-th entry belongs to the k-th smallest ID.
    pub fn entry_of(&self, task: TaskId) -> Option<Vec<u8>> {
        let entries = self.entries.as_ref()?;
        let mut rank: u64 = 0;
        for (s, e) in self.ids.ranges() {
            if task > *e {
                rank += (*e - *s) as u64 + 1;
            } else if task >= *s {
                rank += (task - *s) as u64;
                return entries.get(rank as usize).cloned();
            }
        }
        None
    }
}

pub struct Job {
    pub id: JobId,
    pub name: String,
    pub max_fails: Option<u32>,
    pub is_open: bool,
    pub submit_dir: String,
    pub stream_dir: Option<String>,
    pub groups: Vec<Group>,
    /// Sorted by ID.
    pub tasks: Vec<Task>,
    pub errors: HashMap<TaskId, String>,
    pub dependents: HashMap<TaskId, Vec<TaskId>>,
    /// All nodes of multi-node tasks that run or have run (kept until the task waits again).
    pub multi_node: HashMap<TaskId, Vec<WorkerId>>,
    /// Counters by internal status (an assigned task counts as running).
    pub stats: TaskStats,
    /// Tasks assigned to a worker that has not started them yet (see [`Task::is_assigned`]).
    pub assigned: u32,
    pub cancel_reason: Option<String>,
    pub submitted_at: u64,
    pub completed_at: Option<u64>,
}

impl Job {
    pub fn new(id: JobId, name: String, max_fails: Option<u32>, is_open: bool, now: u64) -> Self {
        Job {
            id,
            name,
            max_fails,
            is_open,
            submit_dir: String::new(),
            stream_dir: None,
            groups: Vec::new(),
            tasks: Vec::new(),
            errors: HashMap::new(),
            dependents: HashMap::new(),
            multi_node: HashMap::new(),
            stats: TaskStats::default(),
            assigned: 0,
            cancel_reason: None,
            submitted_at: now,
            completed_at: None,
        }
    }

    pub fn index_of(&self, task: TaskId) -> Option<usize> {
        // Tasks are in ID order with unique IDs, and an array's IDs are dense: a task is
        // usually at its offset from the first ID, which saves the binary search's ~20 cache
        // misses per lookup in a job of millions of tasks (several lookups per task event).
        let first = self.tasks.first()?.id;
        let offset = task.checked_sub(first)? as usize;
        if self.tasks.get(offset).is_some_and(|t| t.id == task) {
            return Some(offset);
        }
        // IDs are unique and ascending, so the task is not beyond its offset.
        let end = offset.saturating_add(1).min(self.tasks.len());
        self.tasks[..end].binary_search_by_key(&task, |t| t.id).ok()
    }

    /// The tasks whose IDs are in `selected` (all with `None`), in ID order; found by range, so
    /// a selector as wide as `0-4294967295` costs no more than the tasks it finds.
    pub fn tasks_in<'a>(
        &'a self,
        selected: Option<&'a IdSet>,
    ) -> Box<dyn Iterator<Item = &'a Task> + 'a> {
        let Some(set) = selected else {
            return Box::new(self.tasks.iter());
        };
        Box::new(
            set.ranges()
                .iter()
                .flat_map(move |&(s, e)| self.tasks_between(s, e).iter()),
        )
    }

    /// The tasks with IDs in `start..=end` (binary search in the sorted list).
    fn tasks_between(&self, start: TaskId, end: TaskId) -> &[Task] {
        let from = self.tasks.partition_point(|t| t.id < start);
        let to = self.tasks.partition_point(|t| t.id <= end);
        &self.tasks[from..to]
    }

    /// How many tasks [`Job::tasks_in`] yields, without visiting them.
    pub fn count_in(&self, selected: Option<&IdSet>) -> u64 {
        let Some(set) = selected else {
            return self.tasks.len() as u64;
        };
        set.ranges()
            .iter()
            .map(|&(s, e)| self.tasks_between(s, e).len() as u64)
            .sum()
    }

    pub fn task_mut(&mut self, task: TaskId) -> Option<&mut Task> {
        self.index_of(task).map(|i| &mut self.tasks[i])
    }

    pub fn max_task_id(&self) -> Option<TaskId> {
        self.tasks.last().map(|t| t.id)
    }

    /// Moves a task to a new status, keeping the counters right. A task becomes `Running` only
    /// through [`Job::assign`].
    pub fn set_status(&mut self, idx: usize, status: TaskStatus) {
        let t = &self.tasks[idx];
        let old = t.status;
        if t.is_assigned() {
            self.assigned -= 1;
        }
        if status == TaskStatus::Running {
            debug_assert_eq!(t.started_ms.ms(), 0, "a task is assigned before it starts");
            self.assigned += 1;
        }
        *stat_mut(&mut self.stats, old) -= 1;
        *stat_mut(&mut self.stats, status) += 1;
        self.tasks[idx].status = status;
    }

    /// A waiting task gets execution `instance` on `worker`; it starts when the worker says so.
    pub fn assign(&mut self, idx: usize, instance: InstanceId, worker: WorkerId) {
        let t = &mut self.tasks[idx];
        t.next_instance = t.next_instance.max(instance.saturating_add(1));
        t.worker = worker;
        t.started_ms = Stamp::default();
        self.set_status(idx, TaskStatus::Running);
    }

    /// The worker started the process of the task's current execution at `time`.
    pub fn mark_started(&mut self, idx: usize, time: u64) {
        if self.tasks[idx].is_assigned() {
            self.tasks[idx].started_ms = Stamp::new(time.max(1));
            self.assigned -= 1;
        }
    }

    /// The counters clients see: assigned tasks count as waiting.
    pub fn shown_stats(&self) -> TaskStats {
        let mut s = self.stats;
        s.running -= self.assigned;
        s.waiting += self.assigned;
        s
    }

    /// No task is waiting or running.
    pub fn tasks_done(&self) -> bool {
        self.stats.waiting == 0 && self.stats.running == 0
    }

    /// Closed and nothing left to run.
    pub fn is_completed(&self) -> bool {
        !self.is_open && self.tasks_done()
    }

    pub fn status(&self) -> JobStatus {
        self.shown_stats().job_status(self.is_open)
    }

    pub fn info(&self) -> JobInfo {
        JobInfo {
            id: self.id,
            name: self.name.clone(),
            task_count: self.tasks.len() as u32,
            is_open: self.is_open,
            cancel_reason: self.cancel_reason.clone(),
            stats: self.shown_stats(),
        }
    }

    /// Checks a submission against this job before anything is allocated: the task limit,
    /// duplicate and existing IDs, dependencies on unknown tasks or on the task itself.
    pub fn check_submission(
        &self,
        groups: &[TaskGroup],
        max_tasks: u64,
    ) -> Result<(), SubmitError> {
        let added: u64 = groups.iter().map(|g| g.ids.len()).sum();
        let existing = self.tasks.len() as u64;
        if added.saturating_add(existing) > max_tasks {
            return Err(SubmitError::TooManyTasks {
                job: self.id,
                added,
                existing,
                limit: max_tasks,
            });
        }
        if let Some(e) = groups.iter().find_map(|g| g.body.check_limits().err()) {
            return Err(SubmitError::Limits(e));
        }
        let mut ranges: Vec<(u32, u32)> = groups
            .iter()
            .flat_map(|g| g.ids.ranges().iter().copied())
            .collect();
        ranges.sort_unstable();
        if let Some(w) = ranges.windows(2).find(|w| w[1].0 <= w[0].1) {
            return Err(SubmitError::Duplicate(w[1].0));
        }
        let seen = IdSet::from_sorted_ranges(ranges);
        let old = IdSet::from_ids(self.tasks.iter().map(|t| t.id));
        if let Some(id) = seen.first_common(&old) {
            return Err(SubmitError::Exists {
                job: self.id,
                task: id,
            });
        }
        let known = seen.union(&old);
        for g in groups {
            let unknown = g.deps.common.difference(&known);
            if let Some(d) = unknown.min().or_else(|| g.deps.common.first_common(&g.ids)) {
                return Err(SubmitError::InvalidDependency(d));
            }
            if g.deps.offsets.is_empty() {
                continue;
            }
            for t in g.ids.iter() {
                let bad = g.deps.offsets.iter().find_map(|o| {
                    let d = u32::try_from(t as i64 + o).ok()?;
                    (d == t || !known.contains(d)).then_some(d)
                });
                if let Some(d) = bad {
                    return Err(SubmitError::InvalidDependency(d));
                }
            }
        }
        Ok(())
    }

    /// Adds a checked submission's tasks (see [`Job::check_submission`]); returns the tasks that
    /// are ready now, as sorted runs of consecutive IDs. Tasks whose dependency already failed
    /// are aborted.
    pub fn add_groups(&mut self, groups: Vec<(TaskGroup, ReqId)>) -> Vec<(TaskId, TaskId)> {
        let first_group = self.groups.len() as u32;
        let added: u64 = groups.iter().map(|(g, _)| g.ids.len()).sum();
        let old_len = self.tasks.len();
        let old_max = self.max_task_id();
        self.tasks.reserve_exact(added as usize);
        for (gi, (g, _)) in groups.iter().enumerate() {
            self.tasks.extend(
                g.ids
                    .iter()
                    .map(|id| Task::waiting(id, first_group + gi as u32)),
            );
        }
        let new = &self.tasks[old_len..];
        let appended_in_order = new.windows(2).all(|w| w[0].id < w[1].id)
            && match (old_max, new.first()) {
                (Some(max), Some(first)) => first.id > max,
                _ => true,
            };
        self.stats.waiting += added as u32;
        if !appended_in_order {
            self.tasks.sort_unstable_by_key(|t| t.id);
        }
        for (g, req) in groups {
            self.groups.push(Group {
                ids: g.ids,
                entries: g.entries,
                body: g.body,
                deps: g.deps,
                req,
            });
        }
        self.link_dependencies(first_group as usize)
    }

    /// Counts unfinished dependencies of the groups from `first_group` on, records dependents,
    /// aborts tasks whose dependency already failed; returns the ready tasks as sorted runs.
    fn link_dependencies(&mut self, first_group: usize) -> Vec<(TaskId, TaskId)> {
        let mut ready: Vec<(TaskId, TaskId)> = Vec::new();
        let mut ready_with_deps = Vec::new();
        let mut doomed = Vec::new();
        for gi in first_group..self.groups.len() {
            if self.groups[gi].deps.is_empty() {
                ready.extend_from_slice(self.groups[gi].ids.ranges());
                continue;
            }
            let ids: Vec<TaskId> = self.groups[gi].ids.iter().collect();
            for t in ids {
                let deps: Vec<TaskId> = self.groups[gi].deps.of_task(t).collect();
                let mut unfinished = 0;
                let mut failed = false;
                for d in deps {
                    let status = self.index_of(d).map(|i| self.tasks[i].status);
                    match status {
                        Some(TaskStatus::Finished) => {}
                        Some(s) if s.is_terminal() => failed = true,
                        _ => {
                            unfinished += 1;
                            self.dependents.entry(d).or_default().push(t);
                        }
                    }
                }
                if let Some(task) = self.task_mut(t) {
                    task.unfinished_deps = unfinished;
                }
                if failed {
                    doomed.push(t);
                } else if unfinished == 0 {
                    ready_with_deps.push(t);
                }
            }
        }
        for t in doomed {
            self.abort_with_dependents(t);
        }
        // Only tasks with dependencies can have been aborted just now.
        ready_with_deps.retain(|t| {
            self.index_of(*t)
                .is_some_and(|i| self.tasks[i].status == TaskStatus::Waiting)
        });
        ready.extend(ready_with_deps.into_iter().map(|t| (t, t)));
        ready.sort_unstable();
        let mut runs: Vec<(TaskId, TaskId)> = Vec::with_capacity(ready.len());
        for (s, e) in ready {
            match runs.last_mut() {
                Some((_, end)) if end.checked_add(1) == Some(s) => *end = e,
                _ => runs.push((s, e)),
            }
        }
        runs
    }

    /// Aborts `root` (if still waiting) and everything depending on it, transitively.
    pub fn abort_with_dependents(&mut self, root: TaskId) -> Vec<TaskId> {
        let mut aborted = Vec::new();
        let mut stack = vec![root];
        while let Some(t) = stack.pop() {
            if let Some(i) = self.index_of(t) {
                if self.tasks[i].status == TaskStatus::Waiting {
                    self.set_status(i, TaskStatus::Aborted);
                    aborted.push(t);
                }
            }
            if let Some(deps) = self.dependents.get(&t) {
                stack.extend(deps.iter().copied());
            }
        }
        aborted
    }

    /// A dependency finished: returns dependents that became ready.
    pub fn release_dependents(&mut self, finished: TaskId) -> Vec<TaskId> {
        if self.dependents.is_empty() {
            return vec![];
        }
        let Some(deps) = self.dependents.remove(&finished) else {
            return vec![];
        };
        let mut ready = Vec::new();
        for t in deps {
            if let Some(i) = self.index_of(t) {
                let task = &mut self.tasks[i];
                task.unfinished_deps = task.unfinished_deps.saturating_sub(1);
                if task.unfinished_deps == 0 && task.status == TaskStatus::Waiting {
                    ready.push(t);
                }
            }
        }
        ready
    }

    /// Checks the job's invariants (counters, order, groups, dependencies); panics otherwise.
    pub fn sanity_check(&self) {
        let mut stats = TaskStats::default();
        let assigned = self.tasks.iter().filter(|t| t.is_assigned()).count();
        assert_eq!(
            assigned, self.assigned as usize,
            "job {}: assigned",
            self.id
        );
        for (i, t) in self.tasks.iter().enumerate() {
            *stat_mut(&mut stats, t.status) += 1;
            assert!(
                i == 0 || self.tasks[i - 1].id < t.id,
                "job {}: tasks out of order",
                self.id
            );
            let group = &self.groups[t.group as usize];
            assert!(
                group.ids.contains(t.id),
                "job {}: task {} not in its group",
                self.id,
                t.id
            );
            if t.status == TaskStatus::Waiting {
                let unfinished = self
                    .deps_of(t)
                    .iter()
                    .filter(|d| {
                        self.index_of(**d).map(|i| self.tasks[i].status)
                            != Some(TaskStatus::Finished)
                    })
                    .count();
                assert_eq!(
                    t.unfinished_deps as usize, unfinished,
                    "job {}: task {} deps",
                    self.id, t.id
                );
            }
        }
        assert_eq!(
            stats, self.stats,
            "job {}: counters differ from the tasks",
            self.id
        );
        let grouped: u64 = self.groups.iter().map(|g| g.ids.len()).sum();
        assert_eq!(
            grouped,
            self.tasks.len() as u64,
            "job {}: groups and tasks differ",
            self.id
        );
        for task in self.multi_node.keys() {
            let status = self.index_of(*task).map(|i| self.tasks[i].status);
            assert!(
                status.is_some_and(|s| s != TaskStatus::Waiting),
                "job {}: multi-node task {task} is {status:?}",
                self.id
            );
        }
    }

    /// Dependencies of a task, for `hq task info`.
    pub fn deps_of(&self, task: &Task) -> Vec<TaskId> {
        self.groups[task.group as usize]
            .deps
            .of_task(task.id)
            .collect()
    }
}

/// Why a submission is refused; the text is what the client prints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error(
        "job {job} would have {} tasks ({existing} existing + {added} submitted), but a job may have at most {limit} tasks; split the work into several jobs, or start the server with a larger `--max-tasks-per-job`",
        existing.saturating_add(*added)
    )]
    TooManyTasks {
        job: JobId,
        added: u64,
        existing: u64,
        limit: u64,
    },
    #[error("Task {0} is defined multiple times")]
    Duplicate(TaskId),
    #[error("Task {task} already exists in job {job}.")]
    Exists { job: JobId, task: TaskId },
    #[error("Invalid dependency on {0}")]
    InvalidDependency(TaskId),
    #[error("{0}")]
    Limits(String),
}

fn stat_mut(stats: &mut TaskStats, status: TaskStatus) -> &mut u32 {
    match status {
        TaskStatus::Waiting => &mut stats.waiting,
        TaskStatus::Running => &mut stats.running,
        TaskStatus::Finished => &mut stats.finished,
        TaskStatus::Failed => &mut stats.failed,
        TaskStatus::Canceled => &mut stats.canceled,
        TaskStatus::Aborted => &mut stats.aborted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_record_is_40_bytes_and_stamps_keep_milliseconds() {
        assert_eq!(std::mem::size_of::<Task>(), 40);
        let now = 1_764_590_000_123u64;
        assert_eq!(Stamp::new(now).ms(), now);
        assert_eq!(Stamp::new(0).ms(), 0);
    }

    #[test]
    fn index_of_finds_tasks_of_dense_and_sparse_jobs() {
        let mut job = Job::new(1, "j".into(), None, false, 0);
        // Dense from 5, then gaps (an open job that got `--array 20,22,4000000000` later).
        let ids: Vec<TaskId> = (5..15).chain([20, 22, 4_000_000_000]).collect();
        job.tasks = ids.iter().map(|&id| Task::waiting(id, 0)).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(job.index_of(*id), Some(i), "task {id}");
        }
        for missing in [0, 4, 15, 16, 21, 23, 3_999_999_999, u32::MAX] {
            assert_eq!(job.index_of(missing), None, "task {missing}");
        }
        assert_eq!(Job::new(2, "e".into(), None, false, 0).index_of(0), None);
    }
}
