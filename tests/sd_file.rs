//! File service discovery through the manager: files written, changed, broken, renamed into
//! place and deleted in a temporary directory.

mod common;

use common::wait_for;

use promshard::config::PromDuration;
use promshard::sd::{
    FileSdConfig, Manager, SdConfigs, SdMetrics, StaticConfig, TargetGroup, TargetSets,
};
use std::path::Path;
use std::time::Duration;

fn file_sd(patterns: &[&Path], refresh: PromDuration) -> SdConfigs {
    SdConfigs {
        file_sd_configs: vec![FileSdConfig {
            files: patterns
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            refresh_interval: refresh,
        }],
        ..Default::default()
    }
}

/// All target addresses of a job, sorted.
fn addresses(sets: &TargetSets, job: &str) -> Vec<String> {
    let mut out: Vec<String> = sets
        .get(job)
        .into_iter()
        .flatten()
        .flat_map(|g: &TargetGroup| {
            g.targets
                .iter()
                .map(|t| t.get("__address__").unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

fn has(sets: &TargetSets, job: &str, want: &[&str]) -> bool {
    addresses(sets, job) == want
}

/// Writes through a temporary file and a rename, as config management tools do.
fn write_atomic(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn groups_follow_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.yml");
    std::fs::write(
        &a,
        r#"[{"targets": ["a1:1"], "labels": {"team": "x"}}, {"targets": ["a2:1"]}]"#,
    )
    .unwrap();
    std::fs::write(&b, "- targets: ['b1:1']\n").unwrap();

    let manager = Manager::new(Duration::from_millis(50));
    let mut rx = manager.subscribe();
    // A long refresh interval: changes must be seen through the watcher.
    let sd = file_sd(
        &[&dir.path().join("*.json"), &dir.path().join("*.yml")],
        PromDuration::from_secs(300),
    );
    manager.apply(vec![("files".into(), sd)]);
    let sets = wait_for(&mut rx, "initial targets", |s| {
        has(s, "files", &["a1:1", "a2:1", "b1:1"])
    })
    .await;
    let groups = &sets["files"];
    let a_name = a.to_string_lossy();
    let g0 = groups
        .iter()
        .find(|g| g.source == format!("{a_name}:0"))
        .expect("source <path>:0");
    assert_eq!(g0.labels.get("__meta_filepath"), Some(&*a_name));
    assert_eq!(g0.labels.get("team"), Some("x"));
    assert!(groups.iter().any(|g| g.source == format!("{a_name}:1")));
    let b_name = b.to_string_lossy();
    assert!(
        groups.iter().any(|g| g.source == format!("{b_name}:0")
            && g.labels.get("__meta_filepath") == Some(&*b_name))
    );

    // Modify in place.
    std::fs::write(&a, r#"[{"targets": ["a1:1", "a3:1"]}]"#).unwrap();
    wait_for(&mut rx, "modified file", |s| {
        has(s, "files", &["a1:1", "a3:1", "b1:1"])
    })
    .await;

    // A new file matching the glob.
    let c = dir.path().join("c.json");
    write_atomic(&c, r#"[{"targets": ["c1:1"]}]"#);
    wait_for(&mut rx, "new file", |s| {
        has(s, "files", &["a1:1", "a3:1", "b1:1", "c1:1"])
    })
    .await;

    // A broken file keeps its previous groups and is counted.
    let metrics = manager.metrics();
    let errors_before = SdMetrics::get(&metrics.file_read_errors);
    std::fs::write(&a, r#"[{"targets": ["a1:1""#).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while SdMetrics::get(&metrics.file_read_errors) == errors_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "read error not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        addresses(&rx.borrow(), "files"),
        ["a1:1", "a3:1", "b1:1", "c1:1"]
    );

    // Fixed again, through a rename.
    write_atomic(&a, r#"[{"targets": ["a9:1"]}]"#);
    wait_for(&mut rx, "fixed file", |s| {
        has(s, "files", &["a9:1", "b1:1", "c1:1"])
    })
    .await;

    // Deleted files lose their groups.
    std::fs::remove_file(&b).unwrap();
    wait_for(&mut rx, "deleted file", |s| {
        has(s, "files", &["a9:1", "c1:1"])
    })
    .await;
    std::fs::remove_file(&a).unwrap();
    std::fs::remove_file(&c).unwrap();
    let sets = wait_for(&mut rx, "all deleted", |s| {
        s.get("files").is_some_and(|g| g.is_empty())
    })
    .await;
    assert!(sets.contains_key("files"), "the job stays, without targets");
}

#[tokio::test]
async fn refresh_interval_finds_files_the_watcher_cannot() {
    let dir = tempfile::tempdir().unwrap();
    // The directory does not exist yet, so it cannot be watched: only the periodic refresh
    // can find the file.
    let sub = dir.path().join("later");
    let manager = Manager::new(Duration::from_millis(50));
    let mut rx = manager.subscribe();
    manager.apply(vec![(
        "late".into(),
        file_sd(&[&sub.join("*.yaml")], PromDuration::from_millis(200)),
    )]);
    wait_for(&mut rx, "empty job", |s| {
        s.get("late").is_some_and(|g| g.is_empty())
    })
    .await;
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("t.yaml"), "- targets: [x:1]\n  labels: {a: b}\n").unwrap();
    let sets = wait_for(&mut rx, "file in new directory", |s| {
        has(s, "late", &["x:1"])
    })
    .await;
    assert_eq!(sets["late"][0].labels.get("a"), Some("b"));
    // Once the refresh has added the watch, later changes are seen too.
    std::fs::write(sub.join("t.yaml"), "- targets: [x:1, y:1]\n").unwrap();
    wait_for(&mut rx, "changed file in new directory", |s| {
        has(s, "late", &["x:1", "y:1"])
    })
    .await;
}

#[tokio::test]
async fn reload_keeps_unchanged_providers_and_stops_removed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.json");
    std::fs::write(&f, r#"[{"targets": ["t:1"]}]"#).unwrap();
    let manager = Manager::new(Duration::from_millis(20));
    let mut rx = manager.subscribe();
    let sd = file_sd(&[&f], PromDuration::from_secs(300));
    manager.apply(vec![("one".into(), sd.clone())]);
    wait_for(&mut rx, "first job", |s| has(s, "one", &["t:1"])).await;

    // Same file config in a renamed job plus a static job: the file provider is reused, so its
    // groups are there in the very next publication.
    let static_sd = SdConfigs {
        static_configs: vec![StaticConfig {
            targets: vec!["s:1".into()],
            ..Default::default()
        }],
        ..Default::default()
    };
    manager.apply(vec![
        ("two".into(), sd.clone()),
        ("static".into(), static_sd),
    ]);
    let sets = wait_for(&mut rx, "reload", |s| !s.contains_key("one")).await;
    assert_eq!(addresses(&sets, "two"), ["t:1"]);
    wait_for(&mut rx, "static job", |s| has(s, "static", &["s:1"])).await;

    // Remove everything: the jobs disappear and the watcher is gone with its provider.
    manager.apply(vec![]);
    wait_for(&mut rx, "empty config", |s| s.is_empty()).await;
    std::fs::write(&f, r#"[{"targets": ["t:2"]}]"#).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.borrow().is_empty());
}
