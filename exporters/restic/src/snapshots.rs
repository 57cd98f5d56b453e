//! restic's JSON: snapshots (0.14 and current releases), lock files and `stats`.
//!
//! - restic 0.14 (Debian's) writes `time`, `tree`, `paths`, `hostname`, `username`, `tags`,
//!   `id`, `short_id`; 0.16 adds `program_version`, 0.17 adds `summary` (the backup's
//!   statistics), so what a snapshot says about its backup depends on the restic that made it,
//!   not the one reading it.
//! - `time` is RFC 3339 with the *local* offset of the machine that took the backup
//!   (`2024-03-01T05:30:00+05:30`); it is converted to Unix seconds with the offset applied.
//! - restic 0.19.0 leaks progress lines into `--json` output, so the JSON document is looked for
//!   line by line instead of assuming stdout is only JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, de::DeserializeOwned};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// One snapshot as `restic snapshots --json` prints it. Unknown fields are ignored.
#[derive(Clone, Debug, Deserialize)]
pub struct Snapshot {
    /// When the backup started, RFC 3339 with offset.
    pub time: String,
    /// The host it was taken on.
    #[serde(default)]
    pub hostname: String,
    /// The paths backed up.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The tags; absent when there are none.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// The snapshot id.
    #[serde(default)]
    pub id: String,
    /// The restic that made it (≥ 0.16).
    #[serde(default)]
    pub program_version: Option<String>,
    /// What the backup did (≥ 0.17).
    #[serde(default)]
    pub summary: Option<Summary>,
}

/// A snapshot's `summary` (restic ≥ 0.17). Each field may be missing in snapshots rewritten by
/// `restic rewrite --snapshot-summary`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Summary {
    /// Start of the backup, RFC 3339.
    pub backup_start: Option<String>,
    /// End of the backup, RFC 3339.
    pub backup_end: Option<String>,
    /// Files new in this snapshot.
    pub files_new: Option<u64>,
    /// Files changed since the parent.
    pub files_changed: Option<u64>,
    /// Files unchanged since the parent.
    pub files_unmodified: Option<u64>,
    /// Directories new in this snapshot.
    pub dirs_new: Option<u64>,
    /// Directories changed since the parent.
    pub dirs_changed: Option<u64>,
    /// Directories unchanged since the parent.
    pub dirs_unmodified: Option<u64>,
    /// Data blobs the backup added.
    pub data_blobs: Option<u64>,
    /// Tree blobs the backup added.
    pub tree_blobs: Option<u64>,
    /// Bytes added to the repository (before compression).
    pub data_added: Option<u64>,
    /// Bytes added to the repository, as stored (compressed).
    pub data_added_packed: Option<u64>,
    /// Files the backup read.
    pub total_files_processed: Option<u64>,
    /// Bytes the backup read.
    pub total_bytes_processed: Option<u64>,
}

/// The key that groups snapshots: host, paths and tags, each list sorted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    /// `hostname`.
    pub hostname: String,
    /// Paths, sorted, joined with ",".
    pub paths: String,
    /// Tags, sorted, joined with ",".
    pub tags: String,
}

/// One group of snapshots and its latest one.
#[derive(Clone, Debug)]
pub struct Group {
    /// How many snapshots are in the group.
    pub count: usize,
    /// The latest snapshot's time, Unix seconds.
    pub latest_time: f64,
    /// The latest snapshot.
    pub latest: Snapshot,
}

/// Parses an RFC 3339 time with offset (`2024-03-01T05:30:00.123+05:30`) to Unix seconds.
pub fn unix_seconds(text: &str) -> Option<f64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some(t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9)
}

/// Finds the JSON document of type `T` in restic's stdout: the whole output if it parses,
/// otherwise the first document that starts at the beginning of a line and parses (progress
/// lines before or after it are skipped; the document itself may span lines).
pub fn find_json<T: DeserializeOwned>(stdout: &[u8]) -> Result<T, String> {
    let first_error = match serde_json::from_slice::<T>(stdout) {
        Ok(v) => return Ok(v),
        Err(e) => e.to_string(),
    };
    let mut offset = 0;
    for line in stdout.split(|&b| b == b'\n') {
        let start = offset + (line.len() - line.trim_ascii_start().len());
        offset += line.len() + 1;
        if !matches!(stdout.get(start), Some(b'[' | b'{')) {
            continue;
        }
        let mut values = serde_json::Deserializer::from_slice(&stdout[start..]).into_iter::<T>();
        if let Some(Ok(v)) = values.next() {
            return Ok(v);
        }
    }
    Err(first_error)
}

/// Groups snapshots by host, paths and tags. Snapshots whose time does not parse are counted
/// in `unparsable` and left out of the groups.
pub fn group(snapshots: Vec<Snapshot>) -> (BTreeMap<GroupKey, Group>, usize) {
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    let mut unparsable = 0;
    for snapshot in snapshots {
        let Some(time) = unix_seconds(&snapshot.time) else {
            tracing::warn!(id = %snapshot.id, time = %snapshot.time, "snapshot time is not RFC 3339; snapshot skipped");
            unparsable += 1;
            continue;
        };
        let key = GroupKey {
            hostname: snapshot.hostname.clone(),
            paths: label_list(&snapshot.paths),
            tags: label_list(snapshot.tags.as_deref().unwrap_or_default()),
        };
        match groups.get_mut(&key) {
            Some(g) => {
                g.count += 1;
                if time >= g.latest_time {
                    g.latest_time = time;
                    g.latest = snapshot;
                }
            }
            None => {
                groups.insert(
                    key,
                    Group {
                        count: 1,
                        latest_time: time,
                        latest: snapshot,
                    },
                );
            }
        }
    }
    (groups, unparsable)
}

/// A list of paths or tags as one label value: sorted, each `\\` written `\\\\` and each `,`
/// written `\\,`, joined with `,`, so that `["a,b"]` and `["a", "b"]` stay different groups.
/// Empty entries are left out (restic records no empty path; an empty tag is no tag).
pub fn label_list(items: &[String]) -> String {
    let mut items: Vec<String> = items
        .iter()
        .filter(|i| !i.is_empty())
        .map(|i| i.replace('\\', "\\\\").replace(',', "\\,"))
        .collect();
    items.sort();
    items.join(",")
}

/// The lock ids in the output of `restic list locks`: lines of 64 hex digits; anything else
/// (progress, warnings) is skipped.
pub fn lock_ids(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .collect()
}

/// A lock file as `restic cat lock ID` prints it.
#[derive(Clone, Debug, Deserialize)]
pub struct Lock {
    /// When it was created or last refreshed, RFC 3339.
    pub time: String,
    /// Whether it is exclusive (prune, check without --no-lock).
    #[serde(default)]
    pub exclusive: bool,
}

/// `restic stats --mode raw-data --json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Stats {
    /// Bytes stored in the repository.
    pub total_size: u64,
    /// Bytes before compression (repository format 2 only).
    #[serde(default)]
    pub total_uncompressed_size: Option<u64>,
    /// Number of blobs.
    #[serde(default)]
    pub total_blob_count: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact output of Debian's restic 0.14.0 for two snapshots, one taken under
    /// TZ=Asia/Kolkata.
    const RESTIC_0_14: &str = r#"[{"time":"2026-11-21T20:24:30.74982286Z","tree":"3d5aa6904d8ef437851ec12404bc06865676376cef3318d026f21446c2dd342a","paths":["/tmp/rx/d1"],"hostname":"h1","username":"root","tags":["t1"],"id":"884d79831a34107968bd6870b863af932d8c90f85c5ebdf2027aa818ead6d297","short_id":"884d7983"},{"time":"2026-11-22T01:54:31.437515989+05:30","tree":"ea040b34f5cee78767fe90639ad81e574b097f3237ab06c9557449b366633ef1","paths":["/tmp/rx/d2"],"hostname":"h2","username":"root","tags":["x","t2"],"id":"97e895bf51410e9633217d8494f9a9675a581560b10d8383df9b353512634f83","short_id":"97e895bf"}]
"#;

    #[test]
    fn restic_0_14_snapshots_keep_offsets() {
        let snaps: Vec<Snapshot> = find_json(RESTIC_0_14.as_bytes()).unwrap();
        let (groups, bad) = group(snaps);
        assert_eq!(bad, 0);
        let keys: Vec<_> = groups.keys().cloned().collect();
        assert_eq!(keys[1].hostname, "h2");
        assert_eq!(keys[1].tags, "t2,x");
        let h2 = &groups[&keys[1]];
        // 01:54:31.437515989+05:30 is 20:24:31.437515989Z the day before.
        assert_eq!(h2.latest_time, 1_795_292_671.437_516);
        assert!(h2.latest.summary.is_none());
        assert_eq!(groups[&keys[0]].latest_time, 1_795_292_670.749_822_8);
    }

    #[test]
    fn unix_seconds_applies_offsets() {
        assert_eq!(
            unix_seconds("2024-03-01T05:30:00+05:30"),
            Some(1_709_251_200.0)
        );
        assert_eq!(
            unix_seconds("2024-02-29T19:00:00-05:00"),
            Some(1_709_251_200.0)
        );
        assert_eq!(
            unix_seconds("2024-03-01T00:00:00.5Z"),
            Some(1_709_251_200.5)
        );
        assert_eq!(unix_seconds("2024-03-01 00:00:00"), None);
    }

    #[test]
    fn newer_snapshots_with_summary_and_progress_lines() {
        let text = include_str!("../tests/fixtures/snapshots-0.17.json");
        let noisy = format!("[0:00] 100.00%  1 / 1 index files loaded\n{text}\n");
        for input in [text.to_owned(), noisy] {
            let snaps: Vec<Snapshot> = find_json(input.as_bytes()).unwrap();
            assert_eq!(snaps.len(), 3);
            let (groups, _) = group(snaps);
            assert_eq!(groups.len(), 2);
            let g = groups
                .values()
                .find(|g| g.latest.hostname == "db1")
                .unwrap();
            assert_eq!(g.count, 2);
            assert_eq!(g.latest.program_version.as_deref(), Some("restic 0.17.3"));
            let s = g.latest.summary.clone().unwrap();
            assert_eq!(s.data_added, Some(1_048_576));
            assert_eq!(s.files_new, Some(12));
            assert_eq!(
                unix_seconds(s.backup_end.as_deref().unwrap()).unwrap()
                    - unix_seconds(s.backup_start.as_deref().unwrap()).unwrap(),
                42.5
            );
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(find_json::<Vec<Snapshot>>(b"Fatal: nope\n").is_err());
        assert!(find_json::<Vec<Snapshot>>(b"").is_err());
        let empty: Vec<Snapshot> = find_json(b"[]\n").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn lock_json_of_restic_cat_lock() {
        let text = "{\n  \"time\": \"2020-01-02T03:04:05Z\",\n  \"exclusive\": false,\n  \"hostname\": \"oldhost\",\n  \"username\": \"root\",\n  \"pid\": 0\n}\n";
        let lock: Lock = find_json(text.as_bytes()).unwrap();
        assert_eq!(unix_seconds(&lock.time), Some(1_577_934_245.0));
        assert!(!lock.exclusive);
    }

    #[test]
    fn stats_of_0_14_and_compressed_repositories() {
        let s: Stats = find_json(
            br#"{"total_size":1088,"total_file_count":0,"total_blob_count":6,"snapshots_count":2}"#,
        )
        .unwrap();
        assert_eq!(
            (s.total_size, s.total_uncompressed_size, s.total_blob_count),
            (1088, None, Some(6))
        );
        let s: Stats = find_json(br#"{"total_size":10,"total_uncompressed_size":30,"compression_ratio":3,"total_blob_count":2,"snapshots_count":1}"#).unwrap();
        assert_eq!(s.total_uncompressed_size, Some(30));
    }
}

/// Properties of the parsers of restic's output, on generated input: bounded case counts, and
/// every seed that once failed kept in `proptest-regressions/snapshots.txt`.
#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// A line of progress output, as restic 0.19 leaks into `--json`: never starts with `[`/`{`.
    fn progress() -> impl Strategy<Value = String> {
        "[^\\[{\n][^\n]{0,40}"
    }

    /// An RFC 3339 time with a fraction and an offset, and its Unix seconds.
    fn time() -> impl Strategy<Value = (String, i64)> {
        (
            0i64..4_102_444_800,
            0u32..1_000_000_000,
            -(23 * 60 + 59)..=(23 * 60 + 59i32),
        )
            .prop_map(|(unix, nanos, offset_minutes)| {
                let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
                let t = OffsetDateTime::from_unix_timestamp(unix)
                    .unwrap()
                    .replace_nanosecond(nanos)
                    .unwrap()
                    .to_offset(offset);
                let text = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}{}{:02}:{:02}",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second(),
                    nanos,
                    if offset_minutes < 0 { '-' } else { '+' },
                    offset_minutes.abs() / 60,
                    offset_minutes.abs() % 60
                );
                (text, unix)
            })
    }

    /// A snapshot as restic prints it, with names that may hold commas, quotes and non-ASCII.
    fn snapshot() -> impl Strategy<Value = (serde_json::Value, i64)> {
        (
            time(),
            "[a-c,é\"]{0,3}",
            prop::collection::vec("[a-c,/\\\\]{0,4}", 0..3),
            prop::option::of(prop::collection::vec("[a-c,]{0,3}", 0..3)),
        )
            .prop_map(|((time, unix), hostname, paths, tags)| {
                let mut v = serde_json::json!({
                    "time": time, "hostname": hostname, "paths": paths, "id": "x",
                    "tree": "t", "username": "root",
                });
                if let Some(tags) = tags {
                    v["tags"] = serde_json::json!(tags);
                }
                (v, unix)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// No input makes a parser panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = find_json::<Vec<Snapshot>>(&bytes);
            let _ = find_json::<Lock>(&bytes);
            let _ = find_json::<Stats>(&bytes);
            let _ = lock_ids(&bytes);
            let _ = unix_seconds(&String::from_utf8_lossy(&bytes));
        }

        /// Snapshots between progress lines are all found, each time is read with its offset,
        /// and groups count every snapshot once.
        #[test]
        fn snapshots_between_progress_lines(
            before in prop::collection::vec(progress(), 0..3),
            snaps in prop::collection::vec(snapshot(), 0..8),
            after in prop::collection::vec(progress(), 0..3),
            pretty in any::<bool>(),
        ) {
            let list: Vec<_> = snaps.iter().map(|(v, _)| v.clone()).collect();
            let json = if pretty {
                serde_json::to_string_pretty(&list).unwrap()
            } else {
                serde_json::to_string(&list).unwrap()
            };
            let text = [before.join("\n"), json, after.join("\n")].join("\n");
            let parsed: Vec<Snapshot> = find_json(text.as_bytes()).unwrap();
            prop_assert_eq!(parsed.len(), snaps.len());
            for (p, (_, unix)) in parsed.iter().zip(&snaps) {
                let t = unix_seconds(&p.time).unwrap();
                prop_assert_eq!(t.floor() as i64, *unix);
            }
            let (groups, bad) = group(parsed);
            prop_assert_eq!(bad, 0);
            prop_assert_eq!(groups.values().map(|g| g.count).sum::<usize>(), snaps.len());
        }

        /// Snapshots of different hosts, path sets or tag sets are different groups: a comma in
        /// a path or tag must not make `["a,b"]` and `["a", "b"]` one group (one series).
        #[test]
        fn distinct_groups_stay_distinct(snaps in prop::collection::vec(snapshot(), 0..8)) {
            let mut model: BTreeMap<(String, Vec<String>, Vec<String>), usize> = BTreeMap::new();
            let mut list = Vec::new();
            for (v, _) in &snaps {
                let s: Snapshot = serde_json::from_value(v.clone()).unwrap();
                let set = |l: &[String]| {
                    let mut l: Vec<String> = l.iter().filter(|i| !i.is_empty()).cloned().collect();
                    l.sort();
                    l
                };
                let paths = set(&s.paths);
                let tags = set(s.tags.as_deref().unwrap_or_default());
                *model.entry((s.hostname.clone(), paths, tags)).or_default() += 1;
                list.push(s);
            }
            let (groups, _) = group(list);
            let counts: Vec<usize> = groups.values().map(|g| g.count).collect();
            let expected: Vec<usize> = model.values().copied().collect();
            prop_assert_eq!(groups.len(), model.len());
            prop_assert_eq!(counts.iter().sum::<usize>(), expected.iter().sum::<usize>());
        }

        /// The label value of a list is the same for any order of the list.
        #[test]
        fn label_lists_ignore_order(mut items in prop::collection::vec("[a-c,\\\\]{0,3}", 0..5)) {
            let one = label_list(&items);
            items.reverse();
            prop_assert_eq!(label_list(&items), one);
        }

        /// `list locks` yields exactly the 64-hex-digit lines.
        #[test]
        fn lock_ids_are_the_hex_lines(
            ids in prop::collection::vec("[0-9a-f]{64}", 0..5),
            noise in prop::collection::vec("[0-9a-z ]{0,70}", 0..5),
        ) {
            let mut lines: Vec<String> = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                lines.push(format!("  {id} "));
                if let Some(n) = noise.get(i) {
                    lines.push(n.clone());
                }
            }
            let found = lock_ids(lines.join("\n").as_bytes());
            let noise_ids = noise
                .iter()
                .take(ids.len())
                .filter(|n| n.trim().len() == 64 && n.trim().bytes().all(|b| b.is_ascii_hexdigit()))
                .count();
            prop_assert_eq!(found.len(), ids.len() + noise_ids);
            for id in &ids {
                prop_assert!(found.contains(id));
            }
        }

        /// A lock and a stats document are read whatever the field order and extra fields.
        #[test]
        fn lock_and_stats_documents((time, unix) in time(), exclusive in any::<bool>(), size in any::<u64>(), extra in "[a-z]{1,8}") {
            let lock = serde_json::json!({ extra.clone(): 1, "time": time, "exclusive": exclusive, "hostname": "h", "pid": 7 });
            let lock: Lock = find_json(lock.to_string().as_bytes()).unwrap();
            prop_assert_eq!(lock.exclusive, exclusive);
            prop_assert_eq!(unix_seconds(&lock.time).unwrap().floor() as i64, unix);
            let stats = serde_json::json!({ "total_blob_count": 3, extra: "x", "total_size": size });
            let stats: Stats = find_json(format!("progress\n{stats}\n").as_bytes()).unwrap();
            prop_assert_eq!(stats.total_size, size);
            prop_assert_eq!(stats.total_blob_count, Some(3));
        }
    }
}
