//! Hardware reports arriving from workers: recorded as `worker-overview` events (buffered in
//! the journal, no fsync of their own) and applied as the worker's latest report plus a point
//! of its history (for `hq worker info` and the dashboard).

use super::core::ServerCore;
use super::journal::{JournalEvent, OverviewRecord};
use crate::protocol::messages::*;

impl ServerCore {
    /// A report from a connected worker.
    pub(super) fn on_overview(&mut self, id: WorkerId, state: HwState) {
        if !self.is_connected(id) {
            return;
        }
        self.commit_buffered(JournalEvent::WorkerOverview {
            id,
            hw_state: OverviewRecord { state },
        });
    }

    /// Applies a report: the worker's latest state and its history. A replayed report finds no
    /// worker (connections are not restored) and changes nothing.
    pub(super) fn apply_overview(&mut self, id: WorkerId, state: HwState) {
        let Some(worker) = self.workers.get_mut(&id) else {
            return;
        };
        self.dashboard.push_report(id, &state);
        worker.info.overview = Some(state);
    }
}
