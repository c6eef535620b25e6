//! Tests of the journal format: round trips, torn tails, mid-file corruption, headers, rewrite.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

use super::format::{encode_record, HEADER_LEN, RECORD_HEADER_LEN};
use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Ev {
    TaskFinished { job: u32, task: u32 },
    JobCreated { name: String, tasks: Vec<u32> },
    Blob(Vec<u8>),
}

fn sample(n: u32) -> Vec<(u64, Ev)> {
    (0..n)
        .map(|i| {
            let ev = match i % 3 {
                0 => Ev::TaskFinished {
                    job: i,
                    task: i * 7,
                },
                1 => Ev::JobCreated {
                    name: format!("job-{i}"),
                    tasks: (0..i).collect(),
                },
                _ => Ev::Blob(vec![i as u8; i as usize]),
            };
            (1_700_000_000_000 + u64::from(i), ev)
        })
        .collect()
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Writes `events` to a new journal at `path`; returns the offset where each record starts.
fn write(path: &Path, events: &[(u64, Ev)]) -> Vec<u64> {
    let mut w = JournalWriter::create(path).unwrap();
    let mut starts = Vec::new();
    for (t, e) in events {
        starts.push(w.size());
        w.append(*t, e).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(w.size(), fs::metadata(path).unwrap().len());
    starts
}

fn open_ev(path: &Path) -> Result<(Replay<Ev>, JournalWriter<Ev>), JournalError> {
    open(path)
}

#[test]
fn round_trip_and_append_after_reopen() {
    let d = dir();
    let path = d.path().join("j");
    let events = sample(50);
    write(&path, &events[..30]);

    let (replay, mut w) = open_ev(&path).unwrap();
    assert_eq!(replay.events, events[..30]);
    assert!(replay.warnings.is_empty());
    assert_eq!(replay.valid_len, fs::metadata(&path).unwrap().len());
    for (t, e) in &events[30..] {
        w.append(*t, e).unwrap();
    }
    w.flush().unwrap();
    drop(w);

    let (replay, _) = open_ev(&path).unwrap();
    assert_eq!(replay.events, events);
    assert_eq!(read_all::<Ev>(&path).unwrap(), replay);
}

#[test]
fn open_creates_missing_file() {
    let d = dir();
    let path = d.path().join("new");
    let (replay, mut w) = open_ev(&path).unwrap();
    assert!(replay.events.is_empty() && replay.warnings.is_empty());
    w.append(5, &Ev::Blob(vec![1])).unwrap();
    w.flush().unwrap();
    assert_eq!(
        read_all::<Ev>(&path).unwrap().events,
        [(5, Ev::Blob(vec![1]))]
    );
}

#[test]
fn create_refuses_existing_file() {
    let d = dir();
    let path = d.path().join("j");
    fs::write(&path, b"precious").unwrap();
    assert!(JournalWriter::<Ev>::create(&path).is_err());
    assert_eq!(fs::read(&path).unwrap(), b"precious");
}

#[test]
fn drop_without_flush_still_writes() {
    let d = dir();
    let path = d.path().join("j");
    let mut w = JournalWriter::create(&path).unwrap();
    w.append(1, &Ev::Blob(vec![])).unwrap();
    drop(w);
    assert_eq!(read_all::<Ev>(&path).unwrap().events.len(), 1);
}

#[test]
fn truncation_anywhere_in_last_record_keeps_the_prefix() {
    let d = dir();
    let path = d.path().join("j");
    let events = sample(10);
    let starts = write(&path, &events);
    let full = fs::read(&path).unwrap();
    let last = *starts.last().unwrap() as usize;

    for cut in last..full.len() {
        fs::write(&path, &full[..cut]).unwrap();
        let exported = read_all::<Ev>(&path).unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            &full[..cut],
            "read_all modified the file"
        );

        let (replay, mut w) = open_ev(&path).unwrap();
        assert_eq!(replay.events, events[..9], "cut at {cut}");
        assert_eq!(exported.events, replay.events);
        if cut == last {
            assert!(replay.warnings.is_empty());
        } else {
            assert_eq!(replay.warnings.len(), 1, "cut at {cut}");
            assert!(replay.warnings[0].starts_with(TORN_TAIL_WARNING));
            assert!(
                replay.warnings[0].contains(&format!("{} bytes at byte offset {last}", cut - last))
            );
        }
        assert_eq!(fs::metadata(&path).unwrap().len(), last as u64);

        // The journal is usable again: append the lost event back and read everything.
        w.append(events[9].0, &events[9].1).unwrap();
        w.flush().unwrap();
        drop(w);
        assert_eq!(open_ev(&path).unwrap().0.events, events);
    }
}

#[test]
fn torn_header_starts_an_empty_journal() {
    let d = dir();
    let path = d.path().join("j");
    write(&path, &[]);
    let header = fs::read(&path).unwrap();
    for cut in 0..HEADER_LEN {
        fs::write(&path, &header[..cut]).unwrap();
        let (replay, w) = open_ev(&path).unwrap();
        assert!(replay.events.is_empty());
        assert!(replay.warnings[0].starts_with(TORN_TAIL_WARNING));
        drop(w);
        assert_eq!(fs::read(&path).unwrap(), header);
    }
}

#[test]
fn zero_filled_tail_is_cut_off() {
    // What e.g. ext4 may leave after a crash: the size grew but the data never arrived.
    let d = dir();
    let path = d.path().join("j");
    let events = sample(5);
    write(&path, &events);
    let len = fs::metadata(&path).unwrap().len();
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&path, &bytes).unwrap();

    let (replay, _) = open_ev(&path).unwrap();
    assert_eq!(replay.events, events);
    assert!(replay.warnings[0].starts_with(TORN_TAIL_WARNING));
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
}

#[test]
fn flipped_byte_in_a_middle_record_is_corruption_at_its_offset() {
    let d = dir();
    let path = d.path().join("j");
    let events = sample(9);
    let starts = write(&path, &events);
    let full = fs::read(&path).unwrap();
    let (start, end) = (starts[4] as usize, starts[5] as usize);

    for at in start..end {
        let mut bytes = full.clone();
        bytes[at] ^= 0x40;
        fs::write(&path, &bytes).unwrap();

        let err = open_ev(&path).unwrap_err();
        let JournalError::Corrupted { offset, .. } = &err else {
            panic!("byte {at}: expected corruption, got {err}");
        };
        assert_eq!(*offset, start as u64, "byte {at}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("byte offset {start}")), "{msg}");
        assert!(
            msg.contains("refuses to start") && msg.contains("hq journal export"),
            "{msg}"
        );
        assert_eq!(
            fs::read(&path).unwrap(),
            bytes,
            "open modified a corrupted file"
        );

        // Export salvages everything but the damaged record.
        let salvaged = read_all::<Ev>(&path).unwrap();
        let mut expected = events.clone();
        expected.remove(4);
        assert_eq!(salvaged.events, expected, "byte {at}");
        assert_eq!(salvaged.warnings.len(), 1);
    }
}

/// Appends a record whose checksum is right but whose payload is not an `Ev`.
fn push_undecodable(bytes: &mut Vec<u8>) {
    // Variant index 200 does not exist.
    encode_record(bytes, &(7u64, 200u32)).unwrap();
}

#[test]
fn intact_but_undecodable_record_is_corruption_even_at_the_end() {
    let d = dir();
    let path = d.path().join("j");
    let events = sample(4);
    write(&path, &events);
    let mut bytes = fs::read(&path).unwrap();
    let bad_at = bytes.len() as u64;
    push_undecodable(&mut bytes);
    fs::write(&path, &bytes).unwrap();

    let err = open_ev(&path).unwrap_err();
    assert!(
        matches!(err, JournalError::Corrupted { offset, reason: Corruption::Undecodable { .. }, .. } if offset == bad_at),
        "{err}"
    );
    let salvaged = read_all::<Ev>(&path).unwrap();
    assert_eq!(salvaged.events, events);
    assert_eq!(salvaged.warnings.len(), 1);
}

#[test]
fn trailing_bytes_in_a_record_are_corruption() {
    let d = dir();
    let path = d.path().join("j");
    write(&path, &[]);
    let mut bytes = fs::read(&path).unwrap();
    // (time, TaskFinished{1, 2}) followed by an extra u8.
    encode_record(&mut bytes, &(7u64, 0u8, 1u8, 2u8, 99u8)).unwrap();
    fs::write(&path, &bytes).unwrap();
    let err = open_ev(&path).unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::Corrupted {
                reason: Corruption::TrailingBytes { extra: 1 },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn huge_length_in_the_middle_is_corruption_not_a_torn_tail() {
    let d = dir();
    let path = d.path().join("j");
    let starts = write(&path, &sample(6));
    let mut bytes = fs::read(&path).unwrap();
    let at = starts[2] as usize + 4;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let err = open_ev(&path).unwrap_err();
    assert!(
        matches!(err, JournalError::Corrupted { offset, .. } if offset == starts[2]),
        "{err}"
    );
}

#[test]
fn foreign_file_and_other_versions_are_refused() {
    let d = dir();
    let path = d.path().join("j");
    fs::write(&path, b"#!/bin/bash\necho hello\n").unwrap();
    let err = open_ev(&path).unwrap_err();
    assert!(matches!(err, JournalError::NotAJournal { .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"#!/bin/bash\necho hello\n");

    fs::remove_file(&path).unwrap();
    write(&path, &sample(3));
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    bytes[12..32].copy_from_slice(b"99.0.0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    fs::write(&path, &bytes).unwrap();
    for err in [
        open_ev(&path).unwrap_err(),
        read_all::<Ev>(&path).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(
            matches!(err, JournalError::IncompatibleVersion { .. }),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("format version {}", FORMAT_VERSION + 1)),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("only format version {FORMAT_VERSION}")),
            "{msg}"
        );
        assert!(msg.contains("written by hq 99.0.0"), "{msg}");
    }
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn too_large_event_is_refused_and_writer_stays_usable() {
    let d = dir();
    let path = d.path().join("j");
    let mut w = JournalWriter::create(&path).unwrap();
    w.append(1, &Ev::Blob(vec![1])).unwrap();
    let err = w.append(2, &Ev::Blob(vec![0; MAX_RECORD_LEN])).unwrap_err();
    assert!(matches!(err, JournalError::RecordTooLarge { .. }), "{err}");
    w.append(3, &Ev::Blob(vec![3])).unwrap();
    w.flush().unwrap();
    let events = read_all::<Ev>(&path).unwrap().events;
    assert_eq!(events, [(1, Ev::Blob(vec![1])), (3, Ev::Blob(vec![3]))]);
}

#[test]
fn rewrite_replaces_the_journal_and_keeps_appending() {
    let d = dir();
    let path = d.path().join("j");
    let events = sample(20);
    write(&path, &events);
    let kept: Vec<_> = events.iter().filter(|(t, _)| t % 2 == 0).cloned().collect();

    let mut w = rewrite(&path, kept.iter().map(|(t, e)| (*t, e))).unwrap();
    assert_eq!(w.path(), path);
    w.append(99, &Ev::Blob(vec![9])).unwrap();
    w.flush().unwrap();
    drop(w);

    let mut expected = kept;
    expected.push((99, Ev::Blob(vec![9])));
    let (replay, _) = open_ev(&path).unwrap();
    assert_eq!(replay.events, expected);
    let names: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["j"], "temporary file left behind");
}

/// An event whose encoding fails, to make a rewrite fail half-way.
struct Failing(bool);

impl Serialize for Failing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 {
            Err(serde::ser::Error::custom("injected failure"))
        } else {
            s.serialize_u8(1)
        }
    }
}

#[test]
fn failed_rewrite_leaves_the_old_journal_intact() {
    let d = dir();
    let path = d.path().join("j");
    write(&path, &sample(10));
    let before = fs::read(&path).unwrap();

    let events: Vec<_> = (0..100).map(|i| Failing(i == 50)).collect();
    let err = rewrite(&path, events.iter().map(|e| (1, e))).unwrap_err();
    assert!(matches!(err, JournalError::Encode(_)), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
}

#[test]
fn rewrite_that_never_renamed_does_not_affect_the_journal() {
    // A crash between writing the new file and renaming it.
    let d = dir();
    let path = d.path().join("j");
    let events = sample(10);
    write(&path, &events);
    let (tmp, w) = write_temp(&path, events[..2].iter().map(|(t, e)| (*t, e))).unwrap();
    drop(w);
    assert!(tmp.exists());

    assert_eq!(open_ev(&path).unwrap().0.events, events);
    // The next rewrite replaces the stale temporary file.
    drop(rewrite(&path, events[..3].iter().map(|(t, e)| (*t, e))).unwrap());
    assert_eq!(open_ev(&path).unwrap().0.events, events[..3]);
    assert!(!tmp.exists());
}

fn arb_event() -> impl Strategy<Value = Ev> {
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(job, task)| Ev::TaskFinished { job, task }),
        (".{0,20}", prop::collection::vec(any::<u32>(), 0..20))
            .prop_map(|(name, tasks)| Ev::JobCreated { name, tasks }),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Ev::Blob),
    ]
}

fn arb_events() -> impl Strategy<Value = Vec<(u64, Ev)>> {
    prop::collection::vec((any::<u64>(), arb_event()), 0..40)
}

fn scratch_file(d: &tempfile::TempDir) -> PathBuf {
    d.path().join("j")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_round_trip(events in arb_events(), flush_every in 1usize..10) {
        let d = dir();
        let path = scratch_file(&d);
        let mut w = JournalWriter::create(&path).unwrap();
        for (i, (t, e)) in events.iter().enumerate() {
            w.append(*t, e).unwrap();
            if i % flush_every == 0 {
                w.flush().unwrap();
            }
        }
        w.flush().unwrap();
        drop(w);
        let (replay, _) = open_ev(&path).unwrap();
        prop_assert_eq!(replay.events, events);
        prop_assert!(replay.warnings.is_empty());
    }

    #[test]
    fn prop_truncation_yields_a_prefix(events in arb_events(), cut in any::<prop::sample::Index>()) {
        let d = dir();
        let path = scratch_file(&d);
        let starts = write(&path, &events);
        let full = fs::read(&path).unwrap();
        let cut = cut.index(full.len() + 1);
        fs::write(&path, &full[..cut]).unwrap();

        let (replay, _) = open_ev(&path).unwrap();
        // Each record ends where the next starts; the last one at the end of the file (a
        // journal without records has no end to count).
        let last_end = (!events.is_empty()).then_some(full.len() as u64);
        let complete = starts.iter().skip(1).copied().chain(last_end)
            .filter(|&end| end <= cut as u64).count();
        prop_assert_eq!(&replay.events[..], &events[..complete]);
        let at_boundary = cut == HEADER_LEN
            || cut == full.len()
            || starts.contains(&(cut as u64));
        prop_assert_eq!(replay.warnings.is_empty(), at_boundary);
    }

    #[test]
    fn prop_random_damage_never_panics_nor_invents_events(
        events in arb_events(),
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let d = dir();
        let path = scratch_file(&d);
        write(&path, &events);
        let mut bytes = fs::read(&path).unwrap();
        let at = at.index(bytes.len());
        bytes[at] = value;
        fs::write(&path, &bytes).unwrap();

        let _ = read_all::<Ev>(&path);
        if let Ok((replay, _)) = open_ev(&path) {
            prop_assert!(events.starts_with(&replay.events));
        }
    }

    #[test]
    fn prop_garbage_never_panics(tail in prop::collection::vec(any::<u8>(), 0..2000)) {
        let d = dir();
        let path = scratch_file(&d);
        write(&path, &sample(3));
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&tail);
        fs::write(&path, &bytes).unwrap();
        let _ = read_all::<Ev>(&path);
        if let Ok((replay, _)) = open_ev(&path) {
            prop_assert!(replay.events.len() >= 3);
        }
    }
}

/// Run with `cargo test --release -- --ignored --nocapture journal_million`.
#[test]
#[ignore = "benchmark"]
fn journal_million_finished_tasks() {
    const N: u32 = 1_000_000;
    let d = dir();
    let path = d.path().join("j");
    let t0 = std::time::Instant::now();
    let mut w = JournalWriter::create(&path).unwrap();
    let base = 1_767_225_600_000u64; // 2026-01-01 in ms
    for i in 0..N {
        let ev = Ev::TaskFinished {
            job: 1 + i / 10_000,
            task: i % 10_000,
        };
        w.append(base + u64::from(i / 50), &ev).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let write_time = t0.elapsed();
    let size = fs::metadata(&path).unwrap().len();

    let t1 = std::time::Instant::now();
    let (replay, w) = open_ev(&path).unwrap();
    let open_time = t1.elapsed();
    drop(w);
    assert_eq!(replay.events.len(), N as usize);
    println!(
        "{N} TaskFinished events: {size} bytes ({:.2} bytes/event, record header {RECORD_HEADER_LEN}), \
         write+fsync {write_time:?}, open (replay) {open_time:?}",
        (size - HEADER_LEN as u64) as f64 / f64::from(N)
    );
}

#[test]
fn rollback_drops_what_was_appended_after_the_mark_buffered_or_written() {
    use std::os::unix::fs::PermissionsExt;
    let d = dir();
    let path = d.path().join("j");
    let events = sample(6);
    let mut w = JournalWriter::create(&path).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for (t, e) in &events[..3] {
        w.append(*t, e).unwrap();
    }
    w.flush().unwrap();
    // Still buffered.
    let mark = w.size();
    w.append(events[3].0, &events[3].1).unwrap();
    w.rollback_to(mark).unwrap();
    // Already handed to the file (a record above the write threshold).
    let big = Ev::Blob(vec![7; 2 << 20]);
    w.append(1, &big).unwrap();
    assert!(fs::metadata(&path).unwrap().len() > mark);
    w.rollback_to(mark).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), mark);
    w.append(events[4].0, &events[4].1).unwrap();
    w.flush().unwrap();
    drop(w);
    let (replay, _) = open_ev(&path).unwrap();
    let mut expected = events[..3].to_vec();
    expected.push(events[4].clone());
    assert_eq!(replay.events, expected);
}
