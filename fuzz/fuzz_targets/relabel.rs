#![no_main]
//! Relabeling: a job's `relabel_configs` (the input up to the first `\n---\n`, as YAML under
//! the key) applied to a label set (the rest, a `name=value` per line). Whatever the rules
//! and labels, loading fails with an error or relabeling ends with a valid label set.

use libfuzzer_sys::fuzz_target;
use promshard::labels::Labels;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (rules, labels) = text.split_once("\n---\n").unwrap_or((text, ""));
    let mut yaml = String::from("scrape_configs:\n  - job_name: fuzz\n    relabel_configs:\n");
    for line in rules.lines() {
        yaml.push_str("      ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    let config = match promshard::config::load_str(&yaml, std::path::Path::new("fuzz.yml")) {
        Ok(config) => config,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error says what is wrong");
            return;
        }
    };
    let mut set = Labels::from_pairs(labels.lines().filter_map(|l| l.split_once('=')));
    for job in &config.scrape_configs {
        if promshard::relabel::process(&mut set, &job.relabel_configs) {
            let names: Vec<&str> = set.iter().map(|(n, _)| n).collect();
            assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, unique: {names:?}");
            assert!(set.iter().all(|(_, v)| !v.is_empty()), "no empty value");
        }
    }
});
