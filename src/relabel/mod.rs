//! Relabeling exactly as Prometheus' `model/relabel`: used for `relabel_configs`,
//! `metric_relabel_configs` and `write_relabel_configs`.

pub mod config;

pub use config::{RelabelAction, RelabelConfig};

use crate::labels::Labels;

/// Applies `configs` in order; returns false when a rule dropped the label set.
pub fn process(labels: &mut Labels, configs: &[RelabelConfig]) -> bool {
    let _ = labels;
    if configs.is_empty() {
        return true;
    }
    todo!("relabel engine")
}
