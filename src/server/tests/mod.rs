//! Unit tests of the server core, driven without sockets: requests and worker messages go in,
//! the outbox is inspected, `sanity_check` runs after every round, and every test ends by
//! replaying its journal into a fresh core and comparing the two states.

mod dashboard;
mod lifecycle;
mod limits;
mod queued;
mod starts;

use super::core::{CoreConfig, ServerCore};
use super::journal::Journal;
use crate::common::idset::IdSet;
use crate::journal::JournalWriter;
use crate::protocol::messages::*;
use crate::resources::descriptor::parse_cpu_definition;
use crate::resources::{
    AllocationRequest, ResourceDescriptor, ResourceDescriptorItem, ResourceRequest,
    ResourceRequestVariants,
};
use std::path::PathBuf;
use tokio::sync::mpsc;

pub struct Harness {
    pub core: ServerCore,
    _dir: tempfile::TempDir,
    journal: PathBuf,
}

pub fn body(cpus: &str) -> TaskBody {
    let mut r = ResourceRequest::default();
    r.add("cpus", AllocationRequest::parse(cpus).unwrap())
        .unwrap();
    TaskBody {
        program: ProgramDesc {
            args: vec!["true".into()],
            env: vec![],
            cwd: "%{SUBMIT_DIR}/%{JOB_ID}".into(),
            stdout: StdioDef::Null,
            stderr: StdioDef::Null,
            stdin: vec![],
        },
        resources: ResourceRequestVariants::single(r),
        pin: PinMode::None,
        task_dir: false,
        time_limit_ms: None,
        priority: 0,
        crash_limit: CrashLimit::Limit(5),
        max_retries: 0,
        retry_growth: vec![],
        template: None,
    }
}

pub fn group(ids: &str, body: TaskBody) -> TaskGroup {
    TaskGroup {
        ids: IdSet::parse(ids).unwrap(),
        entries: None,
        body,
        deps: GroupDeps::default(),
    }
}

pub fn new_job(groups: Vec<TaskGroup>) -> SubmitRequest {
    SubmitRequest {
        target: JobTarget::New {
            name: "job".into(),
            max_fails: None,
        },
        submit_dir: "/submit".into(),
        stream_dir: None,
        groups,
        ids_after_existing: false,
    }
}

fn info() -> ServerInfo {
    ServerInfo {
        server_uid: "abcdef".into(),
        client_host: String::new(),
        worker_host: String::new(),
        client_port: 0,
        worker_port: 0,
        version: HQ_VERSION.into(),
        pid: 0,
        start_date: 0,
        journal_path: None,
    }
}

/// A core with a journal in `path`, replayed if it exists.
fn core_on(path: &std::path::Path, config: CoreConfig) -> ServerCore {
    let mut core = ServerCore::new(info(), config);
    core.now = 1_000_000;
    core.open_journal(path).unwrap();
    core.run_effects();
    core
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(CoreConfig::default())
    }

    pub fn with_config(config: CoreConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let core = core_on(&journal, config);
        Harness {
            core,
            _dir: dir,
            journal,
        }
    }

    /// Advances the core clock.
    pub fn tick(&mut self, ms: u64) {
        self.core.now += ms;
    }

    /// Sends a request and returns its (first) response.
    pub fn request(&mut self, req: ClientRequest) -> ClientResponse {
        let (tx, _rx) = mpsc::unbounded_channel();
        self.core.handle_request(req, tx.clone());
        let idx = self
            .core
            .outbox
            .replies
            .iter()
            .position(|(to, _)| to.same_channel(&tx))
            .expect("a response");
        self.core.outbox.replies.remove(idx).1
    }

    pub fn submit(&mut self, submit: SubmitRequest) -> JobId {
        match self.request(ClientRequest::Submit(Box::new(submit))) {
            ClientResponse::JobCreated { job } => job,
            other => panic!("submit failed: {other:?}"),
        }
    }

    pub fn add_worker(&mut self, cpus: &str) -> WorkerId {
        self.core.register_worker(worker_config(cpus), vec![])
    }
}

/// The registration of a worker with `cpus`.
pub fn worker_config(cpus: &str) -> WorkerConfiguration {
    let resources = ResourceDescriptor::new(vec![ResourceDescriptorItem {
        name: "cpus".into(),
        kind: parse_cpu_definition(cpus).unwrap(),
    }]);
    WorkerConfiguration {
        hostname: "node".into(),
        work_dir: "/tmp".into(),
        group: "default".into(),
        resources,
        heartbeat_ms: 8000,
        idle_timeout_ms: None,
        time_limit_ms: None,
        on_server_lost: "stop".into(),
        pid: 1,
        listen_address: String::new(),
        min_utilization: Default::default(),
        allocation: None,
        overview_interval_ms: None,
    }
}

impl Harness {
    /// Ends a round as the actor does; returns the messages for workers.
    pub fn round(&mut self) -> Vec<(WorkerId, ToWorker)> {
        super::actor::end_round(&mut self.core, false);
        self.core.sanity_check();
        self.core.outbox.take_worker_messages()
    }

    /// Runs a round and returns the executions it assigned: (worker, job, task, instance);
    /// their workers have not started them yet.
    pub fn assign(&mut self) -> Vec<(WorkerId, JobId, TaskId, InstanceId)> {
        started(&self.round())
    }

    /// Runs a round, and each worker reports the executions it got as started, as a worker
    /// does once their processes run; returns them.
    pub fn start(&mut self) -> Vec<(WorkerId, JobId, TaskId, InstanceId)> {
        let assigned = self.assign();
        for &(w, job, task, instance) in &assigned {
            self.report_started(w, job, task, instance);
        }
        assigned
    }

    pub fn report_started(&mut self, w: WorkerId, job: JobId, task: TaskId, i: InstanceId) {
        let msg = FromWorker::Started(vec![(job, task, i)]);
        self.core.on_worker_message(w, msg);
    }

    pub fn result(&mut self, job: JobId, task: TaskId, instance: InstanceId, o: TaskOutcome) {
        let r = TaskResult {
            job,
            task,
            instance,
            outcome: o,
        };
        self.core.on_results(vec![r]);
    }

    pub fn task(&self, job: JobId, task: TaskId) -> &crate::server::state::Task {
        let j = &self.core.jobs[&job];
        &j.tasks[j.index_of(task).unwrap()]
    }

    pub fn status(&self, job: JobId, task: TaskId) -> TaskStatus {
        self.task(job, task).status
    }

    /// A fresh core restored from a copy of this core's journal.
    pub fn restored(&mut self) -> ServerCore {
        self.core.flush_journal(true).unwrap();
        let copy = self.journal.with_extension("copy");
        std::fs::copy(&self.journal, &copy).unwrap();
        let core = core_on(&copy, self.core.config.clone());
        core.sanity_check();
        core
    }

    /// Replays the journal into a fresh core and checks it holds what this one holds (running
    /// tasks wait again after a restart).
    pub fn check_restore(&mut self) {
        let restored = self.restored();
        assert_eq!(snapshot(&restored), snapshot(&self.core));
        assert_eq!(restored.next_job_id, self.core.next_job_id);
        // A restored server skips one worker ID once any was handed out.
        let skip = u32::from(self.core.next_worker_id > 1);
        assert_eq!(restored.next_worker_id, self.core.next_worker_id + skip);
    }

    /// Makes the journal fail as a full disk would (writes go to /dev/full).
    pub fn break_journal(&mut self) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        self.core.journal = Some(Journal::new(JournalWriter::from_file(
            file,
            std::path::Path::new("/dev/full"),
            0,
        )));
    }

    /// Gives the core its journal back (reopened and appended to).
    pub fn repair_journal(&mut self) {
        let (_, writer) = crate::journal::open(&self.journal).unwrap();
        self.core.journal = Some(Journal::new(writer));
    }
}

/// Executions started by a round's messages (not those queued behind a running one).
pub fn started(msgs: &[(WorkerId, ToWorker)]) -> Vec<(WorkerId, JobId, TaskId, InstanceId)> {
    assigned(msgs, false)
}

/// Executions a round's messages queue on workers behind running ones.
pub fn queued(msgs: &[(WorkerId, ToWorker)]) -> Vec<(WorkerId, JobId, TaskId, InstanceId)> {
    assigned(msgs, true)
}

fn assigned(
    msgs: &[(WorkerId, ToWorker)],
    queued: bool,
) -> Vec<(WorkerId, JobId, TaskId, InstanceId)> {
    msgs.iter()
        .flat_map(|(w, m)| match m {
            ToWorker::Compute { tasks, .. } => tasks
                .iter()
                .filter(|a| a.after.is_some() == queued)
                .map(|a| (*w, a.job, a.task, a.instance))
                .collect(),
            _ => vec![],
        })
        .collect()
}

/// The journaled state as text, with running tasks shown as waiting (as after a restart).
pub fn snapshot(core: &ServerCore) -> Vec<String> {
    let mut out = vec![format!("uid {}", core.info.server_uid)];
    for job in core.jobs.values() {
        let mut stats = job.stats;
        stats.waiting += stats.running;
        stats.running = 0;
        out.push(format!(
            "job {} {:?} open={} max_fails={:?} reason={:?} submitted={} completed={:?} {:?} groups={}",
            job.id,
            job.name,
            job.is_open,
            job.max_fails,
            job.cancel_reason,
            job.submitted_at,
            job.completed_at,
            stats,
            job.groups.len()
        ));
        for t in &job.tasks {
            let status = match t.status {
                TaskStatus::Running => TaskStatus::Waiting,
                s => s,
            };
            out.push(format!(
                "  task {} {status:?} crashes={} retries={} next_instance={} deps={} finished={} error={:?}",
                t.id,
                t.crash_count,
                t.retries,
                t.next_instance,
                t.unfinished_deps,
                t.finished_ms.ms(),
                job.errors.get(&t.id)
            ));
        }
    }
    out
}
