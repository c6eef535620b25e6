use super::reader::{collect, ReadError};
use super::writer::StreamWriter;
use super::*;

fn header(uid: &str, worker: u32) -> FileHeader {
    FileHeader {
        server_uid: uid.into(),
        worker_id: worker,
    }
}

/// A file written by the real writer: `(job, task, instance, channel, data)`, empty = end.
fn file(uid: &str, records: &[(u32, u32, u32, Channel, &str)]) -> Vec<u8> {
    let mut w = StreamWriter::create(Vec::new(), &header(uid, 1)).unwrap();
    for (j, t, i, ch, data) in records {
        if data.is_empty() {
            w.end((*j, *t, *i), *ch).unwrap();
        } else {
            w.chunk((*j, *t, *i), *ch, data.as_bytes()).unwrap();
        }
    }
    w.into_inner().unwrap()
}

const OUT: Channel = Channel::Stdout;
const ERR: Channel = Channel::Stderr;

#[test]
fn header_and_records_round_trip() {
    let bytes = file(
        "abc",
        &[
            (1, 2, 0, OUT, "hello"),
            (1, 2, 0, ERR, "err"),
            (1, 2, 0, OUT, ""),
        ],
    );
    assert_eq!(&bytes[..8], b"hqsf0000");
    let parsed = parse_file(&bytes).unwrap();
    assert_eq!(parsed.header, header("abc", 1));
    assert!(!parsed.truncated);
    let got: Vec<_> = parsed
        .records
        .iter()
        .map(|r| (r.job, r.task, r.instance, r.channel, r.data.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 2, 0, OUT, b"hello".to_vec()),
            (1, 2, 0, ERR, b"err".to_vec()),
            (1, 2, 0, OUT, vec![]),
        ]
    );
}

#[test]
fn empty_file_is_valid() {
    let parsed = parse_file(&file("u", &[])).unwrap();
    assert!(parsed.records.is_empty());
    assert!(!parsed.truncated);
}

#[test]
fn truncated_file_keeps_complete_records() {
    let bytes = file("u", &[(1, 0, 0, OUT, "first"), (1, 0, 0, OUT, "second")]);
    for cut in 1..(RECORD_HEADER_LEN + 6) {
        let parsed = parse_file(&bytes[..bytes.len() - cut]).unwrap();
        assert_eq!(parsed.records.len(), 1, "cut {cut}");
        assert!(parsed.truncated);
        assert_eq!(parsed.records[0].data, b"first");
    }
}

#[test]
fn bad_magic_and_truncated_header_are_errors() {
    assert_eq!(parse_file(b"hqsf0001xxxx"), Err(FormatError::BadMagic));
    assert_eq!(parse_file(b""), Err(FormatError::BadMagic));
    let bytes = file("server", &[]);
    assert_eq!(
        parse_file(&bytes[..bytes.len() - 1]),
        Err(FormatError::TruncatedHeader)
    );
}

#[test]
fn bad_channel_is_an_error() {
    let mut bytes = file("u", &[(1, 0, 0, OUT, "x")]);
    let channel_at = bytes.len() - 1 - 4 - 1;
    bytes[channel_at] = 7;
    assert!(matches!(
        parse_file(&bytes),
        Err(FormatError::BadChannel { channel: 7, .. })
    ));
}

fn log_of(files: &[Vec<u8>]) -> reader::OutputLog {
    let parsed = files.iter().map(|f| parse_file(f).unwrap()).collect();
    collect(parsed, None).unwrap()
}

#[test]
fn later_instances_supersede_earlier_ones() {
    // Instance 0 ran on one worker, instance 1 (after a crash) on another.
    let a = file("u", &[(1, 5, 0, OUT, "old"), (1, 5, 0, ERR, "olderr")]);
    let b = file(
        "u",
        &[
            (1, 5, 1, OUT, "new"),
            (1, 5, 1, OUT, ""),
            (1, 3, 0, OUT, "t3"),
            (1, 3, 0, OUT, ""),
        ],
    );
    let log = log_of(&[b, a]);
    let tasks: Vec<_> = log
        .job_tasks(1)
        .map(|(t, i)| (t, i.channel(OUT).unwrap().content(), i.finished()))
        .collect();
    assert_eq!(
        tasks,
        vec![(3, b"t3".to_vec(), true), (5, b"new".to_vec(), true)]
    );
    let s = log.summary();
    assert_eq!((s.n_files, s.n_jobs, s.n_tasks, s.n_opened), (2, 1, 2, 0));
    assert_eq!((s.stdout_size, s.stderr_size), (5, 0));
    assert_eq!(
        (
            s.n_superseded,
            s.superseded_stdout_size,
            s.superseded_stderr_size
        ),
        (1, 3, 6)
    );
    // Superseded output is not shown.
    let shown: Vec<_> = log.chunks(None, None).iter().map(|c| c.task).collect();
    assert_eq!(shown, vec![5, 3]);
}

#[test]
fn unfinished_streams_are_counted_as_opened() {
    let log = log_of(&[file(
        "u",
        &[
            (2, 0, 0, OUT, "a"),
            (2, 0, 0, OUT, ""),
            (2, 0, 0, ERR, "b"),
            (2, 1, 0, OUT, ""),
        ],
    )]);
    let finished: Vec<_> = log.job_tasks(2).map(|(t, i)| (t, i.finished())).collect();
    assert_eq!(finished, vec![(0, false), (1, true)]);
    assert_eq!(log.summary().n_opened, 1);
    assert_eq!(log.jobs(), vec![2]);
}

#[test]
fn several_server_uids_need_a_choice() {
    let files = || {
        vec![
            parse_file(&file("one", &[(1, 0, 0, OUT, "x")])).unwrap(),
            parse_file(&file("two", &[(7, 0, 0, OUT, "y")])).unwrap(),
        ]
    };
    match collect(files(), None) {
        Err(ReadError::MultipleServers(uids)) => assert_eq!(uids, vec!["one", "two"]),
        other => panic!("unexpected {other:?}"),
    }
    let log = collect(files(), Some("two")).unwrap();
    assert_eq!(log.jobs(), vec![7]);
    assert!(matches!(
        collect(files(), Some("three")),
        Err(ReadError::NoFiles)
    ));
    assert!(matches!(collect(vec![], None), Err(ReadError::NoFiles)));
}

#[test]
fn chunks_filter_by_job_and_channel() {
    let log = log_of(&[file(
        "u",
        &[
            (1, 0, 0, OUT, "a"),
            (2, 0, 0, ERR, "b"),
            (2, 0, 0, OUT, "c"),
        ],
    )]);
    let data = |job, ch| -> Vec<Vec<u8>> {
        log.chunks(job, ch)
            .iter()
            .map(|c| c.chunk.data.clone())
            .collect()
    };
    assert_eq!(data(Some(2), None), vec![b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(data(None, Some(OUT)), vec![b"a".to_vec(), b"c".to_vec()]);
}
