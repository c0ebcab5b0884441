//! `file_sd_configs` (P: `discovery/file/file.go`): target groups read from JSON or YAML files
//! matched by globs, re-read when a watched directory changes and every `refresh_interval`.
//!
//! - Each group gets `__meta_filepath` and the source `<path>:<index>`.
//! - A file that cannot be read or parsed keeps the groups it had, is logged and counted
//!   (`SdMetrics::file_read_errors`); a file that no longer matches (deleted) loses its groups.

use super::metrics::SdMetrics;
use super::{GroupSender, TargetGroup, UpdateSender, parse};
use crate::sd::FileSdConfig;
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The label naming the file a group was read from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Reads one target-group file; the format follows the extension (`.json`, `.yml`, `.yaml`,
/// in any case). Errors name what is wrong; the caller adds the path.
pub fn read_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let name = path.to_string_lossy().into_owned();
    let source = |i: usize| format!("{name}:{i}");
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut groups = match ext.as_str() {
        "json" => parse::parse_json(&data, source)?,
        "yml" | "yaml" => parse::parse_yaml(&data, source)?,
        other => return Err(format!("unsupported file extension {other:?}")),
    };
    for group in &mut groups {
        group.labels.set(FILEPATH_LABEL, name.as_str());
    }
    Ok(groups)
}

/// File discovery for one `file_sd_configs` entry.
pub struct FileProvider {
    config: FileSdConfig,
    metrics: Arc<SdMetrics>,
    /// The last good groups of every file that matched at the last refresh, in listing order.
    files: Vec<(PathBuf, Vec<TargetGroup>)>,
}

impl FileProvider {
    pub fn new(config: FileSdConfig, metrics: Arc<SdMetrics>) -> Self {
        FileProvider {
            config,
            metrics,
            files: Vec::new(),
        }
    }

    /// The files the globs match now, each once, in pattern then name order.
    fn list_files(&self) -> Vec<PathBuf> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for pattern in &self.config.files {
            match glob::glob(pattern) {
                Ok(paths) => {
                    for path in paths.flatten() {
                        if seen.insert(path.clone()) {
                            out.push(path);
                        }
                    }
                }
                Err(e) => tracing::error!(glob = %pattern, err = %e, "Error expanding glob"),
            }
        }
        out
    }

    /// Re-reads every matching file and returns the groups of all of them.
    pub fn refresh(&mut self) -> Vec<TargetGroup> {
        SdMetrics::inc(&self.metrics.file_scans);
        let mut files = Vec::new();
        for path in self.list_files() {
            match read_file(&path) {
                Ok(groups) => files.push((path, groups)),
                Err(err) => {
                    SdMetrics::inc(&self.metrics.file_read_errors);
                    tracing::error!(path = %path.display(), %err, "Error reading file");
                    let previous = self
                        .files
                        .iter()
                        .position(|(p, _)| *p == path)
                        .map(|i| self.files.swap_remove(i).1);
                    if let Some(previous) = previous {
                        files.push((path, previous));
                    }
                }
            }
        }
        self.files = files;
        self.files
            .iter()
            .flat_map(|(_, g)| g.iter().cloned())
            .collect()
    }

    /// The directories to watch: each pattern's directory (`./` for a bare file name).
    fn watch_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for pattern in &self.config.files {
            let dir = match Path::new(pattern).parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("./"),
            };
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// Runs until the receiver of `tx` is gone: an initial refresh, then one on every relevant
    /// change in a watched directory and every `refresh_interval`.
    pub async fn run(mut self, tx: GroupSender) {
        let mut sender = UpdateSender::new(tx);
        let (event_tx, mut events) = mpsc::unbounded_channel();
        let mut watcher = match notify::recommended_watcher(
            move |res: notify::Result<notify::Event>| {
                let _ = event_tx.send(res);
            },
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                SdMetrics::inc(&self.metrics.file_watcher_errors);
                tracing::error!(err = %e, "Error creating file watcher; files are re-read every refresh_interval only");
                None
            }
        };
        let mut watched: HashSet<PathBuf> = HashSet::new();
        let mut ticker = super::refresh_ticker(self.config.refresh_interval.0);
        loop {
            // Watch directories that appeared since (Prometheus re-adds its watches every refresh).
            if let Some(w) = watcher.as_mut() {
                for dir in self.watch_dirs() {
                    if !watched.contains(&dir) {
                        match w.watch(&dir, RecursiveMode::NonRecursive) {
                            Ok(()) => {
                                watched.insert(dir);
                            }
                            Err(e) => {
                                tracing::error!(path = %dir.display(), err = %e, "Error adding file watch")
                            }
                        }
                    }
                }
            }
            let groups = self.refresh();
            if !sender.send(groups).await {
                return;
            }
            loop {
                tokio::select! {
                    _ = ticker.tick() => break,
                    event = events.recv(), if watcher.is_some() => {
                        let Some(event) = event else { watcher = None; continue };
                        let mut relevant = is_relevant(&event, &mut watched);
                        // Coalesce a burst of events (a write is several) into one refresh.
                        while let Ok(more) = events.try_recv() {
                            relevant |= is_relevant(&more, &mut watched);
                        }
                        if relevant {
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// Whether an event may change what the files hold; a removed watched directory is forgotten so
/// that the watch is added again once it exists.
fn is_relevant(event: &notify::Result<notify::Event>, watched: &mut HashSet<PathBuf>) -> bool {
    match event {
        Err(e) => {
            tracing::error!(err = %e, "Error watching file");
            false
        }
        Ok(event) => {
            if matches!(event.kind, EventKind::Remove(_)) {
                for path in &event.paths {
                    watched.remove(path);
                }
            }
            match event.kind {
                EventKind::Access(notify::event::AccessKind::Close(
                    notify::event::AccessMode::Write,
                )) => true,
                EventKind::Access(_) => false,
                EventKind::Modify(notify::event::ModifyKind::Metadata(_)) => false,
                _ => true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_file_sets_source_and_filepath() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.YML");
        std::fs::write(
            &path,
            "- targets: ['a:1']\n  labels: {__meta_filepath: overridden, x: y}\n",
        )
        .unwrap();
        let groups = read_file(&path).unwrap();
        let name = path.to_string_lossy();
        assert_eq!(groups[0].source, format!("{name}:0"));
        assert_eq!(groups[0].labels.get(FILEPATH_LABEL), Some(&*name));
        assert_eq!(groups[0].labels.get("x"), Some("y"));
        assert!(
            read_file(&dir.path().join("missing.json"))
                .unwrap_err()
                .contains("No such file")
        );
    }

    #[test]
    fn refresh_keeps_groups_of_a_broken_file_and_drops_deleted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = dir.path().join("*.json").to_string_lossy().into_owned();
        let metrics = Arc::new(SdMetrics::default());
        let config = FileSdConfig {
            files: vec![pattern],
            refresh_interval: crate::config::PromDuration::from_secs(300),
        };
        let mut provider = FileProvider::new(config, metrics.clone());
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.json");
        std::fs::write(&a, r#"[{"targets": ["a:1"]}]"#).unwrap();
        std::fs::write(&b, r#"[{"targets": ["b:1"]}, {"targets": ["b:2"]}]"#).unwrap();
        let groups = provider.refresh();
        assert_eq!(groups.len(), 3);
        std::fs::write(&a, r#"[{"targets": ["a:1"]"#).unwrap();
        let groups = provider.refresh();
        assert_eq!(groups.len(), 3, "broken file keeps its groups");
        assert_eq!(SdMetrics::get(&metrics.file_read_errors), 1);
        std::fs::remove_file(&b).unwrap();
        let groups = provider.refresh();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].targets[0].get("__address__"), Some("a:1"));
        // A broken new file has no previous groups to keep.
        std::fs::write(&b, "{").unwrap();
        assert_eq!(provider.refresh().len(), 1);
    }
}
