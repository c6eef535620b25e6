//! Hardware reports arriving from workers: kept as the worker's latest state (for `hq worker
//! info` and the dashboard) and recorded as `worker-overview` events.

use super::core::ServerCore;
use super::journal::{JournalEvent, OverviewRecord};
use crate::protocol::messages::*;

impl ServerCore {
    pub(super) fn on_overview(&mut self, id: WorkerId, state: HwState) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        if worker.sender.is_none() {
            return;
        }
        worker.info.overview = Some(state.clone());
        self.dashboard.push_report(id, &state);
        // Reports are buffered in the journal but do not force an fsync of their own: they
        // reach the disk with the next state change, flush or stop (they are not restored).
        let dirty = self.journal_dirty;
        self.record(JournalEvent::WorkerOverview {
            id,
            hw_state: OverviewRecord { state },
        });
        self.journal_dirty = dirty;
    }
}
