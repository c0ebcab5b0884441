//! Server-rendered pages (maud). No external assets: the style sheet and the one script are
//! inline, so the pages work offline and behind any proxy.
//!
//! Label values, URLs and errors come from targets and are untrusted: they are only ever
//! spliced through maud (which escapes them), and the script reads `textContent` and never
//! writes HTML it did not get from this server.

mod cardinality;
mod cluster;
mod discovery;
mod status;
mod targets;

pub use cardinality::cardinality;
pub use cluster::cluster;
pub use discovery::service_discovery;
pub use status::{config, flags, home};
pub use targets::{discovered_labels, targets};

use crate::labels::Labels;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::time::Duration;

const NAV: &[(&str, &str)] = &[
    ("/targets", "Targets"),
    ("/cluster", "Cluster"),
    ("/service-discovery", "Service discovery"),
    ("/cardinality", "Cardinality"),
    ("/config", "Config"),
    ("/flags", "Flags"),
    ("/metrics", "Metrics"),
];

/// The page shell: navigation, the page's title, a link to its JSON twin and the body.
fn page(path: &str, title: &str, json_twin: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - promshard" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                nav {
                    a.brand href="/" { "promshard" }
                    @for (href, name) in NAV {
                        a href=(href) class=[(*href == path).then_some("current")] { (name) }
                    }
                }
                main {
                    header {
                        h1 { (title) }
                        a.json href=(json_twin) title="the same data as JSON" { "JSON" }
                    }
                    (body)
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

/// Labels as chips, `name="value"`.
fn label_chips(labels: impl Iterator<Item = (impl AsRef<str>, impl AsRef<str>)>) -> Markup {
    html! {
        span.labels {
            @for (name, value) in labels {
                span.label { (name.as_ref()) "=\"" (value.as_ref()) "\"" }
            }
        }
    }
}

fn labels_table(labels: &Labels) -> Markup {
    html! {
        table.kv {
            @for (name, value) in labels.iter() {
                tr { th { (name) } td { (value) } }
            }
        }
    }
}

fn health_badge(health: &str) -> Markup {
    let class = match health {
        "up" => "badge up",
        "down" => "badge down",
        _ => "badge unknown",
    };
    html! { span class=(class) { (health) } }
}

/// `1.5s ago`, `3m4s ago`: how long ago, to the precision a person reads.
fn ago(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs < 60 {
        format!("{:.3}s ago", elapsed.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{}s ago", secs / 60, secs % 60)
    } else if secs < 86_400 {
        format!("{}h{}m ago", secs / 3600, secs % 3600 / 60)
    } else {
        format!("{}d{}h ago", secs / 86_400, secs % 86_400 / 3600)
    }
}

/// A duration in seconds the way the Prometheus UI shows scrape durations.
fn seconds(value: f64) -> String {
    if value >= 1.0 {
        format!("{value:.3}s")
    } else {
        format!("{:.3}ms", value * 1000.0)
    }
}

/// A query string from pairs, values percent-encoded.
fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if !value.is_empty() {
            out.append_pair(name, value);
        }
    }
    out.finish()
}

/// Every value of each parameter, in order (`?health=up&health=down` keeps both).
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f6f7f9}
nav{display:flex;flex-wrap:wrap;gap:2px;background:#1d2330;padding:0 12px}
nav a{color:#c9d1e0;text-decoration:none;padding:10px 12px}
nav a.brand{color:#fff;font-weight:600}
nav a.current,nav a:hover{background:#2e3750;color:#fff}
main{padding:12px 20px}
header{display:flex;align-items:baseline;gap:12px}
h1{font-size:22px;margin:8px 0}
h2{font-size:17px;margin:18px 0 6px}
a{color:#1f5fbf}
a.json{font-size:12px;border:1px solid #1f5fbf;border-radius:3px;padding:0 5px;text-decoration:none}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e3e6eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv{width:auto}
table.targets{table-layout:fixed}
table.targets td{overflow-wrap:anywhere}
.w-endpoint{width:20%}.w-state{width:6%}.w-labels{width:28%}.w-age{width:8%}.w-duration{width:7%}.w-series{width:6%}.w-owners{width:10%}
table.kv th{background:none;font-weight:500;color:#555}
.labels{display:flex;flex-wrap:wrap;gap:3px}
.label{background:#e4eaf5;border-radius:3px;padding:0 5px;font-size:12px;font-family:ui-monospace,Menlo,monospace;word-break:break-all}
.badge{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;font-weight:600;color:#fff;text-transform:uppercase}
.badge.up{background:#2e8540}.badge.down{background:#c62828}.badge.unknown{background:#8a8f98}
.badge.warn{background:#d88a00}
.error{color:#c62828;font-family:ui-monospace,Menlo,monospace;font-size:12px;word-break:break-word}
.muted{color:#6b7280}
details.pool{background:#fff;border:1px solid #dde1e7;border-radius:4px;margin:8px 0}
details.pool>summary{cursor:pointer;padding:8px 10px;font-size:15px}
details.disc summary{cursor:pointer;color:#1f5fbf;font-size:12px}
.controls{display:flex;flex-wrap:wrap;gap:14px;align-items:center;margin:8px 0}
.controls input[type=search]{width:320px;padding:4px 6px}
.tabs a{padding:4px 10px;border:1px solid #1f5fbf;text-decoration:none}
.tabs a.current{background:#1f5fbf;color:#fff}
.tabs span.off{padding:4px 10px;border:1px solid #bbb;color:#999}
.bar{position:relative;height:18px;background:#eef0f4;min-width:260px}
.bar .fill{position:absolute;left:0;top:0;bottom:0;background:#4a7fd0}
.bar .fill.over{background:#c62828}
.bar .limit{position:absolute;top:-3px;bottom:-3px;width:2px;background:#1d2330}
pre{background:#fff;border:1px solid #dde1e7;padding:10px;overflow:auto}
.summary{display:flex;flex-wrap:wrap;gap:18px;margin:6px 0 10px}
.summary div{background:#fff;border:1px solid #dde1e7;border-radius:4px;padding:6px 12px}
.summary b{display:block;font-size:18px}
"#;

/// Live filtering on /targets (the server applies the same filters from the query string,
/// so links and a page without scripts show the same rows), and lazy discovered labels.
const SCRIPT: &str = r#"
(function(){
  var form=document.getElementById('target-filter');
  if(form){
    var search=form.querySelector('input[name=search]');
    var boxes=form.querySelectorAll('input[name=health]');
    var apply=function(){
      var text=search.value.trim().toLowerCase();
      var wanted={};var any=false;
      boxes.forEach(function(b){if(b.checked){wanted[b.value]=true;any=true;}});
      var shown=0;
      document.querySelectorAll('details.pool').forEach(function(pool){
        var visible=0;
        var rows=pool.querySelectorAll('tr.target');
        rows.forEach(function(row){
          var ok=(!any||wanted[row.dataset.health])&&(!text||Array.prototype.some.call(row.querySelectorAll('.s'),function(e){return e.textContent.toLowerCase().indexOf(text)>=0;}));
          row.hidden=!ok;if(ok)visible++;
        });
        pool.hidden=visible===0&&rows.length>0;
        pool.querySelector('.shown').textContent=visible;
        shown+=visible;
      });
      document.getElementById('shown-count').textContent=shown;
      var params=new URLSearchParams(window.location.search);
      params.delete('health');params.delete('search');
      boxes.forEach(function(b){if(b.checked)params.append('health',b.value);});
      if(text)params.set('search',search.value.trim());
      var q=params.toString();
      history.replaceState(null,'',window.location.pathname+(q?'?'+q:''));
    };
    search.addEventListener('input',apply);
    boxes.forEach(function(b){b.addEventListener('change',apply);});
    form.addEventListener('submit',function(e){e.preventDefault();apply();});
    var toggleAll=function(open){document.querySelectorAll('details.pool').forEach(function(d){d.open=open;});};
    var expand=document.getElementById('expand-all');if(expand)expand.addEventListener('click',function(){toggleAll(true);});
    var collapse=document.getElementById('collapse-all');if(collapse)collapse.addEventListener('click',function(){toggleAll(false);});
  }
  document.querySelectorAll('details.disc').forEach(function(d){
    d.addEventListener('toggle',function(){
      if(!d.open||d.dataset.loaded)return;
      d.dataset.loaded='1';
      var box=d.querySelector('.disc-body');
      fetch(d.dataset.src+'&fragment=1').then(function(r){
        if(!r.ok)throw new Error('HTTP '+r.status);return r.text();
      }).then(function(html){box.innerHTML=html;}).catch(function(e){box.textContent='cannot load: '+e.message;});
    });
  });
})();
"#;

#[cfg(test)]
mod tests;
