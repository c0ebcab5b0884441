//! `promshard check config FILE...` and `check web-config FILE...`, like `promtool check`.

use crate::config::{Config, load_file};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    check_each(files, out, err, |file| {
        load_file(file)
            .map(|config| summary(&config))
            .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
    })
}

/// Checks web config files (`--web.config.file`) as promshard would serve them: the TLS
/// files are read and the certificate and key must match.
pub fn check_web_config(files: &[PathBuf], out: &mut impl Write, err: &mut impl Write) -> i32 {
    check_each(files, out, err, |file| {
        let access = crate::web::access::WebAccess::open(file).map_err(|e| vec![e])?;
        access
            .current()
            .map(|loaded| loaded.summary())
            .map_err(|e| vec![e])
    })
}

fn check_each(
    files: &[PathBuf],
    out: &mut impl Write,
    err: &mut impl Write,
    check: impl Fn(&Path) -> Result<String, Vec<String>>,
) -> i32 {
    let mut code = 0;
    for file in files {
        match check(file) {
            Ok(summary) => {
                let _ = writeln!(out, "{}: SUCCESS: {summary}", file.display());
            }
            Err(errors) => {
                code = 1;
                let _ = writeln!(err, "{}: FAILED: {} error(s)", file.display(), errors.len());
                for error in &errors {
                    let _ = writeln!(err, "  {error}");
                }
            }
        }
    }
    code
}
