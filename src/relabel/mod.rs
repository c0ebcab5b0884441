//! Relabeling exactly as Prometheus' `model/relabel`: used for `relabel_configs`,
//! `metric_relabel_configs` and `write_relabel_configs`.

pub mod config;
mod gostr;
mod regexp;

pub use config::{RelabelAction, RelabelConfig};
pub use regexp::Regexp;

use crate::labels::Labels;
use md5::{Digest, Md5};

/// Applies `configs` in order; returns false when a rule dropped the label set.
pub fn process(labels: &mut Labels, configs: &[RelabelConfig]) -> bool {
    // `labelmap` visits labels in the order of Go's `labels.Builder.Range`: untouched labels
    // (sorted), then labels set by earlier rules of this call, in the order they were set.
    // That order only matters to a later `labelmap`, so it is tracked only until then.
    let last_labelmap = configs
        .iter()
        .rposition(|c| c.action == RelabelAction::LabelMap);
    let mut state = State {
        scratch: String::new(),
        added: Vec::new(),
        track: false,
    };
    for (i, config) in configs.iter().enumerate() {
        state.track = last_labelmap.is_some_and(|last| i < last);
        if !relabel(config, labels, &mut state) {
            return false;
        }
    }
    true
}

struct State {
    /// Reused buffer for the joined source values.
    scratch: String,
    /// Names set during this call, in Go's `Builder.add` order (only while `track`).
    added: Vec<String>,
    track: bool,
}

impl State {
    /// `Builder.Set`: an empty value deletes.
    fn set(&mut self, labels: &mut Labels, name: String, value: String) {
        if value.is_empty() {
            self.delete(labels, &name);
            return;
        }
        if self.track && !self.added.contains(&name) {
            self.added.push(name.clone());
        }
        labels.set(name, value);
    }

    fn delete(&mut self, labels: &mut Labels, name: &str) {
        labels.remove(name);
        if self.track {
            self.added.retain(|n| n != name);
        }
    }
}

/// The source label values joined with the separator; a missing label is `""`.
fn source_value<'a>(
    labels: &'a Labels,
    config: &RelabelConfig,
    scratch: &'a mut String,
) -> &'a str {
    match config.source_labels.as_slice() {
        [] => "",
        [one] => labels.value(one),
        many => {
            scratch.clear();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    scratch.push_str(config.separator());
                }
                scratch.push_str(labels.value(name));
            }
            scratch
        }
    }
}

fn relabel(config: &RelabelConfig, labels: &mut Labels, state: &mut State) -> bool {
    let regex = config.regex();
    // These act on label names and ignore the source labels.
    match config.action {
        RelabelAction::LabelMap => {
            label_map(config, labels, state);
            return true;
        }
        RelabelAction::LabelDrop | RelabelAction::LabelKeep => {
            let keep_matching = config.action == RelabelAction::LabelKeep;
            labels.retain(|name, _| regex.is_match(name) == keep_matching);
            if state.track {
                state.added.retain(|n| labels.contains(n));
            }
            return true;
        }
        _ => {}
    }
    let val = source_value(labels, config, &mut state.scratch);
    match config.action {
        RelabelAction::Drop => return !regex.is_match(val),
        RelabelAction::Keep => return regex.is_match(val),
        RelabelAction::DropEqual => return labels.value(config.target_label()) != val,
        RelabelAction::KeepEqual => return labels.value(config.target_label()) == val,
        RelabelAction::Replace => {
            let Some((target, value)) = replace(config, val) else {
                return true;
            };
            state.set(labels, target, value);
        }
        RelabelAction::Lowercase => {
            let value = gostr::to_lower(val);
            state.set(labels, config.target_label().to_owned(), value);
        }
        RelabelAction::Uppercase => {
            let value = gostr::to_upper(val);
            state.set(labels, config.target_label().to_owned(), value);
        }
        RelabelAction::HashMod => {
            let hash = Md5::digest(val.as_bytes());
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&hash[8..16]);
            let value = (u64::from_be_bytes(tail) % config.modulus()).to_string();
            state.set(labels, config.target_label().to_owned(), value);
        }
        RelabelAction::LabelMap | RelabelAction::LabelDrop | RelabelAction::LabelKeep => {
            unreachable!("handled above")
        }
    }
    true
}

/// `replace`: the target name and value to set (an empty value deletes), or `None` when the
/// regex does not match or the expanded target is not a valid label name.
fn replace(config: &RelabelConfig, val: &str) -> Option<(String, String)> {
    let regex = config.regex();
    let scheme = config.name_validation_scheme;
    let target_template = config.target_template();
    let replacement_template = config.replacement_template();
    if let (Some(target), Some(value)) = (
        target_template.as_literal(),
        replacement_template.as_literal(),
    ) {
        // Nothing to expand: only whether the regex matches matters.
        if !regex.is_match(val) || !scheme.is_valid_label_name(target) {
            return None;
        }
        return Some((target.to_owned(), value.to_owned()));
    }
    let mut locs = regex.capture_locations();
    if !regex.captures_read(&mut locs, val) {
        return None;
    }
    let mut target = String::new();
    target_template.expand(val, &locs, &mut target);
    if !scheme.is_valid_label_name(&target) {
        return None;
    }
    let mut value = String::new();
    replacement_template.expand(val, &locs, &mut value);
    Some((target, value))
}

/// `labelmap`: for every label (as it was before this rule) whose name matches, set
/// `ReplaceAllString(name, replacement)` to its value. The new name is not checked.
fn label_map(config: &RelabelConfig, labels: &mut Labels, state: &mut State) {
    let regex = config.regex();
    let template = config.replacement_template();
    let mut locs = regex.capture_locations();
    let mut writes: Vec<(String, String)> = Vec::new();
    let mut visit = |name: &str, value: &str| {
        if let Some(new_name) = regex.replace_all(name, template, &mut locs) {
            writes.push((new_name, value.to_owned()));
        }
    };
    if state.added.is_empty() {
        for (name, value) in labels.iter() {
            visit(name, value);
        }
    } else {
        for (name, value) in labels
            .iter()
            .filter(|(n, _)| !state.added.iter().any(|a| a == n))
        {
            visit(name, value);
        }
        for name in &state.added {
            if let Some(value) = labels.get(name) {
                visit(name, value);
            }
        }
    }
    for (name, value) in writes {
        state.set(labels, name, value);
    }
}

#[cfg(test)]
mod tests;
