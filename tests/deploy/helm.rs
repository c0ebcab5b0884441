//! `helm template` for our chart, on [`super::gotmpl`]: values.yaml merged with overrides as
//! Helm coalesces them, `.Values`, `.Release`, `.Chart`, every file under templates/ parsed
//! into one set (so `define`s are shared), partials (`_*`) not rendered, `<no value>`
//! replaced by nothing, as Helm's engine does.

use super::gotmpl::{Templates, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub struct Chart {
    pub metadata: serde_json::Value,
    pub values: serde_json::Value,
    /// (path under the chart, text) of every file in templates/.
    pub templates: Vec<(String, String)>,
}

pub fn yaml(text: &str) -> Result<serde_json::Value, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

impl Chart {
    pub fn load(dir: &Path) -> Chart {
        let read = |p: &Path| {
            std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let metadata = yaml(&read(&dir.join("Chart.yaml"))).expect("Chart.yaml");
        let values = yaml(&read(&dir.join("values.yaml"))).expect("values.yaml");
        let mut templates = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir.join("templates"))
            .expect("templates/")
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = format!(
                "{}/templates/{}",
                metadata["name"].as_str().unwrap(),
                path.file_name().unwrap().to_str().unwrap()
            );
            templates.push((name, read(&path)));
        }
        Chart {
            metadata,
            values,
            templates,
        }
    }

    /// Renders every template with `overrides` over values.yaml, as `helm template NAME
    /// --namespace NAMESPACE` would: file name → output (files that render to nothing
    /// included, as empty strings).
    pub fn render(
        &self,
        release: &str,
        namespace: &str,
        overrides: &serde_json::Value,
    ) -> Result<BTreeMap<String, String>, String> {
        let mut values = self.values.clone();
        coalesce(&mut values, overrides);
        let meta = |k: &str| match &self.metadata[k] {
            serde_json::Value::Null => Value::Str(String::new()),
            v => Value::from_json(v),
        };
        let chart = Value::Struct(
            "*chart.Metadata",
            [
                ("Name", "name"),
                ("Version", "version"),
                ("AppVersion", "appVersion"),
                ("Description", "description"),
                ("APIVersion", "apiVersion"),
                ("Type", "type"),
                ("Keywords", "keywords"),
            ]
            .into_iter()
            .map(|(field, key)| (field.to_string(), meta(key)))
            .collect(),
        );
        let release = Value::Struct(
            "chartutil.ReleaseOptions",
            BTreeMap::from([
                ("Name".to_string(), Value::Str(release.to_string())),
                ("Namespace".to_string(), Value::Str(namespace.to_string())),
                ("Service".to_string(), Value::Str("Helm".into())),
                ("IsInstall".to_string(), Value::Bool(true)),
                ("IsUpgrade".to_string(), Value::Bool(false)),
                ("Revision".to_string(), Value::Int(1)),
            ]),
        );
        let mut set = Templates::default();
        for (name, text) in &self.templates {
            set.add(name, text)?;
        }
        let mut out = BTreeMap::new();
        for (name, _) in &self.templates {
            let base = name.rsplit('/').next().unwrap();
            if base.starts_with('_') {
                continue;
            }
            let data = Value::Map(BTreeMap::from([
                ("Values".to_string(), Value::from_json(&values)),
                ("Release".to_string(), release.clone()),
                ("Chart".to_string(), chart.clone()),
                (
                    "Template".to_string(),
                    Value::Struct(
                        "chartutil.Template",
                        BTreeMap::from([
                            ("Name".to_string(), Value::Str(name.clone())),
                            (
                                "BasePath".to_string(),
                                Value::Str(format!(
                                    "{}/templates",
                                    self.metadata["name"].as_str().unwrap()
                                )),
                            ),
                        ]),
                    ),
                ),
            ]));
            let text = set.execute(name, &data)?;
            out.insert(name.clone(), text.replace("<no value>", ""));
        }
        Ok(out)
    }
}

/// Helm's coalescing of user values over the chart's: maps merge key by key, anything else
/// replaces, and a null removes the key.
pub fn coalesce(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(existing) = b.get_mut(k) {
                    coalesce(existing, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The documents of rendered manifests (Helm splits on `---` lines), each parsed, skipping
/// empty ones; errors name the file.
pub fn documents(
    rendered: &BTreeMap<String, String>,
) -> Result<Vec<(String, serde_json::Value)>, String> {
    let mut docs = Vec::new();
    for (name, text) in rendered {
        if name.ends_with("NOTES.txt") {
            continue;
        }
        for doc in split_documents(text) {
            let value = yaml(&doc).map_err(|e| format!("{name}: {e}\n{doc}"))?;
            if !value.is_null() {
                docs.push((name.clone(), value));
            }
        }
    }
    Ok(docs)
}

pub fn split_documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else {
            let last = docs.last_mut().unwrap();
            last.push_str(line);
            last.push('\n');
        }
    }
    docs.retain(|d| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}
