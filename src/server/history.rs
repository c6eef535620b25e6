//! Recent events kept in memory when the server runs without a journal, so `hq journal replay`
//! and `hq journal stream` still have past events to show. Bounded: at most
//! [`HISTORY_BYTES`] of encoded events are kept (in one buffer), the oldest are dropped first.

use super::journal::JournalEvent;
use std::collections::VecDeque;

/// Most bytes of encoded events kept.
pub const HISTORY_BYTES: usize = 8 << 20;

/// Records in one buffer, each a 4-byte length and the postcard of `(time_ms, event)`, oldest
/// first: a task's events take their encoded size (about 10 bytes), not a heap block each.
#[derive(Default)]
pub struct EventHistory {
    data: VecDeque<u8>,
    bytes: usize,
    dropped: u64,
    /// Encoding buffer, reused: an event is encoded here, then copied into `data`.
    scratch: Vec<u8>,
}

impl EventHistory {
    pub fn push(&mut self, time: u64, event: &JournalEvent) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let Ok(record) = postcard::to_extend(&(time, event), scratch) else {
            return;
        };
        self.data.extend((record.len() as u32).to_le_bytes());
        self.data.extend(record.iter());
        self.scratch = record;
        self.bytes = self.data.len();
        while self.bytes > HISTORY_BYTES {
            let Some(len) = self.record_len(0) else {
                break;
            };
            self.data.drain(..4 + len);
            self.bytes = self.data.len();
            if self.dropped == 0 {
                log::warn!(
                    "without --journal the server keeps only the most recent {} MiB of events \
                     for `hq journal replay`; older ones are dropped",
                    HISTORY_BYTES >> 20
                );
            }
            self.dropped += 1;
        }
        // Give back what a burst of large events left allocated.
        if self.data.capacity() > 2 * HISTORY_BYTES {
            self.data.shrink_to(HISTORY_BYTES + (HISTORY_BYTES >> 2));
        }
    }

    /// Length of the record whose header starts at `at`.
    fn record_len(&self, at: usize) -> Option<usize> {
        let end = at.checked_add(4)?;
        if end > self.data.len() {
            return None;
        }
        let mut header = [0u8; 4];
        for (h, b) in header.iter_mut().zip(self.data.range(at..end)) {
            *h = *b;
        }
        Some(u32::from_le_bytes(header) as usize)
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = (u64, JournalEvent)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let len = self.record_len(at)?;
            let record: Vec<u8> = self.data.range(at + 4..at + 4 + len).copied().collect();
            at += 4 + len;
            Some(record)
        })
        .filter_map(|r| postcard::from_bytes::<(u64, JournalEvent)>(&r).ok())
    }

    /// How many events were dropped to stay within the bound.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_events_in_order_and_stays_bounded() {
        let mut h = EventHistory::default();
        h.push(
            5,
            &JournalEvent::ServerStart {
                server_uid: "u".into(),
            },
        );
        h.push(6, &JournalEvent::JobClose { job_id: 1 });
        let kinds: Vec<u64> = h.events().map(|(t, _)| t).collect();
        assert_eq!(kinds, [5, 6]);
        let big = JournalEvent::TaskFailed {
            job: 1,
            task: 1,
            error: "x".repeat(1 << 20),
        };
        for t in 0..20 {
            h.push(100 + t, &big);
        }
        assert!(h.bytes <= HISTORY_BYTES);
        assert!(h.dropped() >= 12, "{}", h.dropped());
        assert_eq!(h.events().last().map(|(t, _)| t), Some(119));
    }
}
