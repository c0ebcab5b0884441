//! Self-test of the headless Chromium harness (tests/common/browser.rs) against a tiny axum
//! page on 127.0.0.1: every harness method is checked against what the page really does.

mod common;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use common::browser::{Browser, screenshot_dir};
use std::time::Duration;

const INDEX: &str = r#"<!doctype html>
<html><head><title>promshard harness</title></head>
<body>
<input id="q" placeholder="filter">
<table id="t"><tbody>
<tr><td>alpha</td></tr>
<tr><td>beta</td></tr>
<tr><td>gamma</td></tr>
<tr><td>alphabet</td></tr>
<tr><td>delta</td></tr>
</tbody></table>
<button id="hidden" style="display:none">hidden</button>
<!-- Taller than the 1000 px window: the screenshot must cover the whole page and the click
     must scroll the link into view. -->
<div style="height:2500px"></div>
<a id="next" href="/other?from=index">next page</a>
<script>
const q = document.getElementById('q');
q.addEventListener('input', () => {
  for (const row of document.querySelectorAll('#t tr')) {
    row.hidden = !row.textContent.includes(q.value);
  }
});
q.addEventListener('change', () => { document.body.dataset.changed = q.value; });
</script>
</body></html>"#;

const OTHER: &str =
    "<!doctype html><html><head><title>other</title></head><body><p id=p>arrived</p></body></html>";

/// Serves the test pages on a random loopback port; returns their base URL.
async fn serve() -> String {
    let app = Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/other", get(|| async { Html(OTHER) }))
        // Answers late: goto must wait for this document, not take the previous one's
        // readyState "complete" for it; its late image keeps it from "complete" a while longer.
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Html("<!doctype html><title>slow</title><img src=/slow.svg>")
            }),
        )
        .route(
            "/slow.svg",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#;
                ([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the test page server");
    let addr = listener.local_addr().expect("test server address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve test pages") });
    format!("http://{addr}")
}

const VISIBLE_ROWS: &str =
    "[...document.querySelectorAll('#t tr')].filter(r => r.getClientRects().length > 0).length";

#[tokio::test]
async fn drives_a_page() {
    let started = std::time::Instant::now();
    let base = serve().await;
    let browser = Browser::launch();
    let page = browser.new_page().await;
    page.goto(&format!("{base}/"))
        .await
        .expect("load the index");

    assert_eq!(
        page.eval::<String>("document.title").await,
        Ok("promshard harness".to_string())
    );
    assert_eq!(
        page.eval::<u32>("window.innerWidth").await,
        Ok(1400),
        "--window-size"
    );
    assert_eq!(page.eval::<u32>(VISIBLE_ROWS).await, Ok(5));
    assert!(page.html().await.contains("<td>alphabet</td>"));

    // The page's own input listener filters; the change listener records the value.
    page.type_into("#q", "alpha").await.expect("type into #q");
    page.wait_for(&format!("{VISIBLE_ROWS} === 2"), Duration::from_secs(5))
        .await
        .expect("typing filters the rows");
    assert_eq!(
        page.eval::<String>("q.value").await,
        Ok("alpha".to_string())
    );
    assert_eq!(
        page.eval::<String>("document.body.dataset.changed").await,
        Ok("alpha".to_string()),
        "change event"
    );
    page.type_into("#q", "").await.expect("clear #q");
    assert_eq!(page.eval::<u32>(VISIBLE_ROWS).await, Ok(5));

    // Full page, not only the viewport: taller than the 1000 px window.
    let shot = screenshot_dir().join("browser_harness/index.png");
    let _ = std::fs::remove_file(&shot);
    page.screenshot(&shot).await.expect("screenshot");
    let png = std::fs::read(&shot).expect("read the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {shot:?}");
    // IHDR: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes(png[16..20].try_into().expect("IHDR width"));
    let height = u32::from_be_bytes(png[20..24].try_into().expect("IHDR height"));
    assert!(width >= 1300, "screenshot width {width}");
    assert!(
        height > 2500,
        "screenshot height {height}: not the full page"
    );

    // The link is below the fold; the click has to scroll to it.
    page.click("#next").await.expect("click the link");
    let expected = format!("{base}/other?from=index");
    page.wait_for(
        &format!("location.href === {expected:?} && document.readyState === 'complete'"),
        Duration::from_secs(10),
    )
    .await
    .expect("the link navigates");
    assert_eq!(page.eval::<String>("location.href").await, Ok(expected));
    assert_eq!(
        page.eval::<String>("document.getElementById('p').textContent")
            .await,
        Ok("arrived".to_string())
    );

    // goto waits for the new document, not the old (already complete) one.
    page.goto(&format!("{base}/slow"))
        .await
        .expect("load /slow");
    assert_eq!(
        page.eval::<String>("document.title").await,
        Ok("slow".to_string())
    );
    assert_eq!(
        page.eval::<bool>("document.images[0].complete").await,
        Ok(true),
        "goto returned before the page's image loaded"
    );
    page.goto(&format!("{base}/"))
        .await
        .expect("back to the index");
    assert_eq!(
        page.eval::<String>("document.title").await,
        Ok("promshard harness".to_string())
    );
    assert_eq!(page.eval::<u32>(VISIBLE_ROWS).await, Ok(5));
    eprintln!("drives_a_page took {:?}", started.elapsed());
}

#[tokio::test]
async fn reports_failures() {
    let started = std::time::Instant::now();
    let base = serve().await;
    let browser = Browser::launch();
    let page = browser.new_page().await;
    page.goto(&format!("{base}/"))
        .await
        .expect("load the index");

    let thrown = page.eval::<u32>("throw new Error('boom')").await;
    assert!(
        matches!(&thrown, Err(e) if e.contains("boom")),
        "{thrown:?}"
    );
    let rejected = page
        .eval::<u32>("new Promise((_, reject) => setTimeout(() => reject(new Error('later')), 10))")
        .await;
    assert!(
        matches!(&rejected, Err(e) if e.contains("later")),
        "{rejected:?}"
    );
    let awaited = page
        .eval::<u32>("new Promise(r => setTimeout(() => r(42), 10))")
        .await;
    assert_eq!(awaited, Ok(42), "awaitPromise");
    let wrong_type = page.eval::<u32>("'text'").await;
    assert!(wrong_type.is_err(), "{wrong_type:?}");

    let missing = page.click("#nope").await;
    assert!(
        matches!(&missing, Err(e) if e.contains("no element matches")),
        "{missing:?}"
    );
    let hidden = page.click("#hidden").await;
    assert!(
        matches!(&hidden, Err(e) if e.contains("not visible")),
        "{hidden:?}"
    );
    let missing = page.type_into("#nope", "x").await;
    assert!(
        matches!(&missing, Err(e) if e.contains("no element matches")),
        "{missing:?}"
    );

    let waited = std::time::Instant::now();
    let never = page.wait_for("false", Duration::from_millis(300)).await;
    assert!(
        matches!(&never, Err(e) if e.contains("timed out")),
        "{never:?}"
    );
    assert!(waited.elapsed() >= Duration::from_millis(300));

    // A port that was just free: nothing listens, chromium reports the failure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to free");
    let port = closed.local_addr().expect("freed port").port();
    drop(closed);
    let refused = page.goto(&format!("http://127.0.0.1:{port}/")).await;
    assert!(
        matches!(&refused, Err(e) if e.contains("ERR_CONNECTION_REFUSED")),
        "{refused:?}"
    );

    // The page is still usable after the failures.
    page.goto(&format!("{base}/other"))
        .await
        .expect("load /other");
    assert_eq!(
        page.eval::<String>("document.title").await,
        Ok("other".to_string())
    );
    eprintln!("reports_failures took {:?}", started.elapsed());
}
