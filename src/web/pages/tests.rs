use crate::web::app;
use crate::web::tests::{get_body, get_json, state_with};
use axum::http::StatusCode;

const HOSTILE: &str = r#"
scrape_configs:
  - job_name: evil
    basic_auth: {username: u, password: planted-secret-7}
    relabel_configs:
      - target_label: note
        replacement: '<script>alert("x")</script>'
  - job_name: plain
"#;

async fn get_html(state: &std::sync::Arc<crate::web::AppState>, uri: &str) -> (StatusCode, String) {
    let (status, bytes) = get_body(app(state.clone()), uri).await;
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Rows of the targets table the server left visible.
fn visible_rows(html: &str) -> usize {
    html.matches("<tr class=\"target\"")
        .zip(html.split("<tr class=\"target\"").skip(1))
        .filter(|(_, rest)| !rest[..rest.find('>').unwrap()].contains("hidden"))
        .count()
}

#[tokio::test]
async fn every_page_renders_and_links_its_json_twin() {
    let (state, _rx) = state_with(HOSTILE);
    for (page, twin) in [
        ("/", "/api/v1/status/buildinfo"),
        ("/targets", "/api/v1/targets"),
        ("/cluster", "/api/v1/cluster"),
        ("/service-discovery", "/api/v1/targets?state=any"),
        ("/cardinality", "/api/v1/status/series?limit=20"),
        ("/config", "/api/v1/status/config"),
        ("/flags", "/api/v1/status/flags"),
    ] {
        let (status, html) = get_html(&state, page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(html.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(
            html.contains(&format!(
                "class=\"json\" href=\"{}\"",
                twin.replace('&', "&amp;")
            )),
            "{page} does not link {twin}"
        );
        if !twin.starts_with("/api/v1/cluster") {
            let (status, body) = get_json(app(state.clone()), twin).await;
            assert_eq!(status, StatusCode::OK, "{twin}");
            assert_eq!(body["status"], "success", "{twin}");
        }
    }
}

#[tokio::test]
async fn untrusted_label_values_render_as_text() {
    let (state, _rx) = state_with(HOSTILE);
    for page in ["/targets", "/service-discovery", "/cardinality"] {
        let (_, html) = get_html(&state, page).await;
        assert!(
            !html.contains("<script>alert"),
            "{page} lets a label value through:\n{html}"
        );
        if page != "/cardinality" {
            // Listed, escaped (cardinality lists only targets scraped here: none).
            assert!(
                html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"),
                "{page} does not show the label value"
            );
        }
        // The page's own script is the only one.
        assert_eq!(html.matches("<script>").count(), 1, "{page}");
    }
}

#[tokio::test]
async fn config_page_redacts_secrets() {
    let (state, _rx) = state_with(HOSTILE);
    let (_, html) = get_html(&state, "/config").await;
    assert!(html.contains("job_name: evil"), "{html}");
    assert!(!html.contains("planted-secret-7"), "{html}");
    assert!(html.contains("&lt;secret&gt;"), "{html}");
}

#[tokio::test]
async fn targets_filters_match_the_query_string() {
    let (state, _rx) = state_with(HOSTILE);
    let (_, html) = get_html(&state, "/targets").await;
    assert_eq!(visible_rows(&html), 4);
    assert_eq!(html.matches("<details class=\"pool\"").count(), 2);
    // Search looks in URLs and labels, case-insensitively.
    let (_, html) = get_html(&state, "/targets?search=PLAIN:1").await;
    assert_eq!(visible_rows(&html), 1, "{html}");
    let (_, html) = get_html(&state, "/targets?search=%3Cscript").await;
    assert_eq!(visible_rows(&html), 2);
    // No loops here: every target is unknown.
    let (_, html) = get_html(&state, "/targets?health=up").await;
    assert_eq!(visible_rows(&html), 0);
    let (_, html) = get_html(&state, "/targets?health=up&health=unknown").await;
    assert_eq!(visible_rows(&html), 4);
    let (_, html) = get_html(&state, "/targets?health=down,unknown&search=9100").await;
    assert_eq!(visible_rows(&html), 2);
    let (_, html) = get_html(&state, "/targets?pool=plain").await;
    assert_eq!(html.matches("<details class=\"pool\"").count(), 1);
    assert_eq!(visible_rows(&html), 2);
    // Without a cluster the cluster switch is off, and the scope falls back to this replica.
    assert!(!html.contains("id=\"scope-cluster\""));
    let (_, html) = get_html(&state, "/targets?scope=cluster").await;
    assert_eq!(visible_rows(&html), 4);
}

#[tokio::test]
async fn discovered_labels_on_demand() {
    let (state, _rx) = state_with(HOSTILE);
    let (_, html) = get_html(&state, "/targets?pool=plain&search=plain:1").await;
    let start = html.find("/targets/discovered?").unwrap();
    let link = html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&");
    let (status, fragment) = get_html(&state, &format!("{link}&fragment=1")).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert!(!fragment.contains("<html"), "{fragment}");
    assert!(
        fragment.contains("__address__") && fragment.contains("plain:1"),
        "{fragment}"
    );
    let (status, page) = get_html(&state, &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.starts_with("<!DOCTYPE html>"));
    let (status, _) = get_html(&state, "/targets/discovered?scrapePool=plain&key=00ff").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get_html(&state, "/targets/discovered?scrapePool=plain&key=zz").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn service_discovery_counts_kept_and_dropped() {
    let (state, _rx) = state_with(HOSTILE);
    let (_, html) = get_html(&state, "/service-discovery").await;
    let row = &html[html.find("<tr data-job=\"plain\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    for (class, count) in [
        ("discovered", 3),
        ("kept", 2),
        ("dropped", 1),
        ("invalid", 0),
    ] {
        assert!(
            row.contains(&format!("class=\"num {class}\">{count}<")),
            "{class} != {count} in {row}"
        );
    }
    assert_eq!(html.matches("<tr class=\"dropped\"").count(), 2);
}
