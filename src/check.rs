//! `promshard check config FILE...`, like `promtool check config`.

use crate::config::{Config, load_file};
use std::io::Write;
use std::path::PathBuf;

/// One line summing up a valid config.
pub fn summary(config: &Config) -> String {
    let static_targets: usize = config
        .scrape_configs
        .iter()
        .flat_map(|job| &job.service_discovery.static_configs)
        .map(|group| group.targets.len())
        .sum();
    format!(
        "{} scrape jobs, {} targets from static configs, {} remote_write",
        config.scrape_configs.len(),
        static_targets,
        config.remote_write.len()
    )
}

/// Checks every file; writes a line per file (and each error) and returns the exit code.
pub fn check_config(files: &[PathBuf], out: &mut impl Write, err: &mut impl Write) -> i32 {
    let mut code = 0;
    for file in files {
        match load_file(file) {
            Ok(config) => {
                let _ = writeln!(out, "{}: SUCCESS: {}", file.display(), summary(&config));
            }
            Err(errors) => {
                code = 1;
                let _ = writeln!(
                    err,
                    "{}: FAILED: {} error(s)",
                    file.display(),
                    errors.0.len()
                );
                for error in &errors.0 {
                    let _ = writeln!(err, "  {error}");
                }
            }
        }
    }
    code
}
