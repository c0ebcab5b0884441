//! Helpers shared by integration tests: free ports, child processes, real peers.
#![allow(dead_code)]

pub mod browser;
pub mod fake_k8s;
pub mod pki;
pub mod receiver;
pub mod strict_receiver;
pub mod tcp_proxy;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A loopback port that was free a moment ago, picked at random below Linux's ephemeral range
/// (32768-60999), so outgoing connections of concurrent tests cannot take it before the
/// process it is meant for binds it.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = fastrand::u16(20000..32000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 20000..32000")
}

/// Starts a server with `start(port)` on a free loopback port and waits until it listens.
/// Another test may take the port between [`free_port`] and the server's bind: then the
/// server exits with "address already in use" and another port is tried.
pub async fn start_on_free_port(start: impl Fn(u16) -> Process) -> (Process, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut process = start(port);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                // The listener may be the thief's: ours would exit at once.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if process.check_running().is_ok() {
                    return (process, port);
                }
            }
            match process.check_running() {
                Err(log) if log.contains("address already in use") => break,
                Err(log) => panic!("server did not start: {log}"),
                Ok(()) => {}
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} does not listen on port {port} after 30 s; log:\n{}",
                process.name,
                process.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("5 ports in a row were taken before the server could bind them")
}

/// A child process killed when dropped; its output goes to `log`.
pub struct Process {
    child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    pub fn spawn(name: &str, program: &str, args: &[String], log: &Path) -> Process {
        Self::spawn_with_env(name, program, args, &[], log)
    }

    /// [`Process::spawn`] with extra environment variables.
    pub fn spawn_with_env(
        name: &str,
        program: &str,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Process {
        let out = std::fs::File::create(log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Process {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; panics (with the log) otherwise.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        // The shell's builtin: /bin/kill (procps) is not on a minimal Debian.
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status();
        let start = std::time::Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if start.elapsed() > timeout {
                panic!(
                    "{} did not exit within {timeout:?} of SIGTERM; log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An error naming the exit status and log, if the process has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!(
                "{} exited with {status}; log:\n{}",
                self.name,
                self.log_text()
            )),
            _ => Ok(()),
        }
    }
}

/// Path of a program the tests need, or a panic saying how to get it.
pub fn require_program(program: &str, package: &str) -> String {
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    match found {
        Some(path) => path.display().to_string(),
        None => panic!(
            "this test needs `{program}` from Debian's `{package}` package; run scripts/test, which installs it"
        ),
    }
}

pub fn promshard_bin() -> &'static str {
    env!("CARGO_BIN_EXE_promshard")
}

/// Starts promshard on a loopback port with `config`.
pub fn start_promshard(config: &Path, dir: &Path, port: u16) -> Process {
    start_promshard_with(config, dir, port, &[])
}

/// [`start_promshard`] with `extra` flags.
pub fn start_promshard_with(config: &Path, dir: &Path, port: u16, extra: &[String]) -> Process {
    let mut args = vec![
        format!("--config.file={}", config.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!("--storage.path={}", dir.join("promshard-data").display()),
        "--log.level=debug".to_string(),
    ];
    args.extend_from_slice(extra);
    Process::spawn(
        "promshard",
        promshard_bin(),
        &args,
        &dir.join("promshard.log"),
    )
}

/// Starts Debian's prometheus on a loopback port with `config`.
pub fn start_prometheus(config: &Path, dir: &Path, port: u16) -> Process {
    let program = require_program("prometheus", "prometheus");
    let args = vec![
        format!("--config.file={}", config.display()),
        format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    Process::spawn("prometheus", &program, &args, &dir.join("prometheus.log"))
}

/// GETs JSON, retrying until the server answers or `deadline` passes.
pub async fn get_json(
    client: &reqwest::Client,
    url: &str,
    deadline: Duration,
) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        match client.get(url).send().await {
            Ok(response) if response.status().is_success() => {
                if let Ok(value) = response.json().await {
                    return value;
                }
            }
            _ => {}
        }
        if start.elapsed() > deadline {
            panic!("no JSON answer from {url} within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A memory figure of process `pid` from `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn proc_memory_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kib * 1024
}

/// The `activeTargets` of promshard's `/api/v1/targets` at `base` (`http://host:port`).
pub async fn active_targets(client: &reqwest::Client, base: &str) -> Vec<serde_json::Value> {
    let targets = get_json(
        client,
        &format!("{base}/api/v1/targets"),
        Duration::from_secs(30),
    )
    .await;
    targets["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Headers that log a client in with basic auth, for `reqwest::ClientBuilder::default_headers`.
pub fn basic_auth_headers(user: &str, password: &str) -> reqwest::header::HeaderMap {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {encoded}").parse().expect("header value"),
    );
    headers
}

/// The value of the unlabelled sample `name` in an exposition.
pub fn metric_value(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// GETs `url` and returns its body as text.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Waits up to 10s for discovery to publish target sets that satisfy `pred`.
pub async fn wait_for(
    rx: &mut tokio::sync::watch::Receiver<std::sync::Arc<promshard::sd::TargetSets>>,
    what: &str,
    pred: impl Fn(&promshard::sd::TargetSets) -> bool,
) -> std::sync::Arc<promshard::sd::TargetSets> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        {
            let sets = rx.borrow_and_update().clone();
            if pred(&sets) {
                return sets;
            }
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            panic!("timed out waiting for {what}; last: {:?}", rx.borrow());
        }
    }
}

/// Serves `app` on a new port of 127.0.0.1 until the test ends; returns its `host:port`.
pub async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

/// `n` targets on 127.0.0.1 each serving `body` on `/metrics`.
pub async fn serve_body(n: usize, body: String) -> Vec<String> {
    let mut targets = Vec::new();
    for _ in 0..n {
        let body = body.clone();
        let app =
            axum::Router::new().route("/metrics", axum::routing::get(move || async move { body }));
        targets.push(serve_on_loopback(app).await);
    }
    targets
}

/// `n` targets on 127.0.0.1 each serving the same `series` gauges `metric{series="k"} k`.
pub async fn serve_fixed_targets(n: usize, series: u64) -> Vec<String> {
    let mut body = String::from("# TYPE metric gauge\n");
    for k in 0..series {
        body.push_str(&format!("metric{{series=\"{k}\"}} {k}\n"));
    }
    serve_body(n, body).await
}
