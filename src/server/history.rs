//! Recent events kept in memory when the server runs without a journal, so `hq journal replay`
//! and `hq journal stream` still have past events to show. Bounded: at most
//! [`HISTORY_BYTES`] of encoded events are kept (in one buffer), the oldest are dropped first.

use super::journal::JournalEvent;
use crate::common::encode::encode_into;

/// Most bytes of encoded events kept.
pub const HISTORY_BYTES: usize = 8 << 20;

/// Records in one buffer, each a 4-byte length and the postcard of `(time_ms, event)`, oldest
/// first: a task's events take their encoded size (about 10 bytes), not a heap block each.
/// Events are encoded in place at the end; dropping the oldest only moves `start`, and the
/// dropped bytes are cut off in one move once they are a quarter of [`HISTORY_BYTES`] (so the
/// buffer holds at most 1.25 times the bound, and each byte is moved about four times, in
/// large `memmove`s).
#[derive(Default)]
pub struct EventHistory {
    data: Vec<u8>,
    /// Where the oldest kept record starts; what is before it was dropped.
    start: usize,
    dropped: u64,
}

impl EventHistory {
    pub fn push(&mut self, time: u64, event: &JournalEvent) {
        let at = self.data.len();
        self.data.extend_from_slice(&[0; 4]);
        if encode_into(&mut self.data, &(time, event)).is_err() {
            self.data.truncate(at);
            return;
        }
        let len = (self.data.len() - at - 4) as u32;
        self.data[at..at + 4].copy_from_slice(&len.to_le_bytes());
        while self.data.len() - self.start > HISTORY_BYTES {
            let Some(len) = self.record_len(self.start) else {
                break;
            };
            self.start += 4 + len;
            if self.dropped == 0 {
                log::warn!(
                    "without --journal the server keeps only the most recent {} MiB of events \
                     for `hq journal replay`; older ones are dropped",
                    HISTORY_BYTES >> 20
                );
            }
            self.dropped += 1;
        }
        if self.start >= HISTORY_BYTES / 4 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        // Give back what a burst of large events left allocated.
        if self.data.capacity() > 4 * HISTORY_BYTES {
            self.data.shrink_to(HISTORY_BYTES + HISTORY_BYTES / 2);
        }
    }

    /// Length of the record whose header starts at `at`.
    fn record_len(&self, at: usize) -> Option<usize> {
        let header = self.data.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes(header.try_into().ok()?) as usize)
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = (u64, JournalEvent)> + '_ {
        let mut at = self.start;
        std::iter::from_fn(move || {
            let len = self.record_len(at)?;
            let record = self.data.get(at + 4..at + 4 + len)?;
            at += 4 + len;
            Some(record)
        })
        .filter_map(|r| postcard::from_bytes::<(u64, JournalEvent)>(r).ok())
    }

    /// How many events were dropped to stay within the bound.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Bytes of the kept events.
    #[cfg(test)]
    fn kept_bytes(&self) -> usize {
        self.data.len() - self.start
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
        assert!(h.kept_bytes() <= HISTORY_BYTES);
        assert!(h.dropped() >= 12, "{}", h.dropped());
        assert_eq!(h.events().last().map(|(t, _)| t), Some(119));
    }

    /// Many small events, well past the bound: the dropped ones are cut off now and then, the
    /// buffer stays within 1.25 times the bound, and what is kept is the newest, in order, whole.
    #[test]
    fn small_events_past_the_bound_keep_the_newest_in_order() {
        let mut h = EventHistory::default();
        let n = 2 * HISTORY_BYTES as u64 / 8;
        for t in 0..n {
            h.push(
                t,
                &JournalEvent::TaskFinished {
                    job: 1,
                    task: t as u32,
                },
            );
            assert!(h.data.len() <= HISTORY_BYTES + HISTORY_BYTES / 4 + 64);
        }
        assert!(h.kept_bytes() <= HISTORY_BYTES);
        assert!(h.kept_bytes() > HISTORY_BYTES - 64);
        let times: Vec<u64> = h.events().map(|(t, _)| t).collect();
        assert_eq!(times.last(), Some(&(n - 1)));
        assert!(times.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(h.dropped() + times.len() as u64, n);
    }
}
