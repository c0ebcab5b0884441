#!/usr/bin/env python3
"""Side-by-side cost of scraping: promshard, vmagent and the Prometheus agent, one after
the other, on the same static targets, writing to the same discard receiver.

Targets are bodies of `promshard gen` written once to files and served (gzipped, as all
three scrapers ask for) by nginx, which also discards the remote-write requests, so the
targets' and the receiver's CPU is not counted. `honor_timestamps: false`. For each scraper:
a warm-up, then a measured window: CPU time from /proc/<pid>/stat (user + system), resident
memory every second (steady: the median over the window; peak: VmHWM), samples from the
shape (targets x series per interval).

    benches/e2e/run.py                      # both shapes, all three scrapers
    benches/e2e/run.py --shape cadvisor --scrapers promshard,vmagent --window 60

Needs: nginx (Debian's nginx-light), vmagent (victoria-metrics), prometheus, and a release
build of promshard (cargo build --release). Results: a Markdown table on stdout and JSON in
--out (default target/e2e/results.json). Each scraper's own counters of samples dropped or
failed in the window are reported; any makes the run fail, as shedding load would look cheap.
"""

import argparse
import gzip
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# The two shapes: targets, series per target, scrape interval (s).
SHAPES = {
    "cadvisor": (100, 10_000, 10),
    "node-exporter": (200, 2_000, 5),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {timeout}s")


def write_bodies(promshard, shape, targets, series, root):
    """Each target's body from `promshard gen`, as metrics and metrics.gz."""
    port = free_port()
    gen = subprocess.Popen(
        [promshard, "gen", f"--shape={shape}", f"--series={series}",
         f"--targets={targets}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for i in range(targets):
            url = f"http://127.0.0.1:{port + i}/metrics"
            wait_http(url)
            with urllib.request.urlopen(url) as r:
                body = r.read()
            d = root / f"t{i}"
            d.mkdir(parents=True, exist_ok=True)
            (d / "metrics").write_bytes(body)
            (d / "metrics.gz").write_bytes(gzip.compress(body, compresslevel=6))
    finally:
        gen.terminate()
        gen.wait()


def start_nginx(root, work):
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
daemon off;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  default_type "text/plain; version=0.0.4";
  client_body_temp_path {work}/nginx-body;
  client_max_body_size 256m;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    gzip_static on;
    location /api/v1/write {{ return 204; }}
  }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/t0/metrics")
    return proc, port


def scrape_config(nginx_port, targets, interval):
    lines = [
        "global:",
        f"  scrape_interval: {interval}s",
        f"  scrape_timeout: {max(1, interval - 1)}s",
        "scrape_configs:",
        "  - job_name: e2e",
        "    honor_timestamps: false",
        "    static_configs:",
    ]
    for i in range(targets):
        lines.append(f"      - targets: ['127.0.0.1:{nginx_port}']")
        lines.append(f"        labels: {{__metrics_path__: /t{i}/metrics, instance: t{i}}}")
    return "\n".join(lines) + "\n"


def command(scraper, promshard, config, work, web_port, write_url):
    if scraper == "promshard":
        return [promshard, f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{web_port}",
                f"--storage.path={work}/promshard-data", "--log.level=warn"]
    if scraper == "vmagent":
        return ["vmagent", f"-promscrape.config={config}", f"-remoteWrite.url={write_url}",
                f"-httpListenAddr=127.0.0.1:{web_port}",
                f"-remoteWrite.tmpDataPath={work}/vmagent-data", "-loggerLevel=WARN"]
    if scraper == "prometheus":
        return ["prometheus", "--enable-feature=agent", f"--config.file={config}",
                f"--storage.agent.path={work}/prometheus-data",
                f"--web.listen-address=127.0.0.1:{web_port}", "--log.level=warn"]
    raise SystemExit(f"unknown scraper {scraper}")


def with_remote_write(config_text, scraper, write_url):
    # vmagent takes the URL as a flag; the others read remote_write from the config.
    if scraper == "vmagent":
        return config_text
    return config_text + f"remote_write:\n  - url: {write_url}\n"


def cpu_seconds(pid):
    """User and system CPU seconds of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def rss_bytes(pid):
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def peak_rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def samples_lost(web_port):
    """Samples the scraper's own counters say it dropped or failed to send, so far: a
    scraper that sheds load must not look cheaper for it."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError as error:
        raise SystemExit(f"cannot read the scraper's /metrics: {error}")
    lost = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if re.search(r"(remote_storage|remotewrite)_.*(dropped|failed)\w*_total$", name):
            lost += float(line.rsplit(" ", 1)[1])
    return lost


def measure(scraper, args, shape, targets, nginx_port, work, promshard):
    _, series, interval = SHAPES[shape]
    write_url = f"http://127.0.0.1:{nginx_port}/api/v1/write"
    run_dir = work / f"{shape}-{targets}-{scraper}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    config = run_dir / "prometheus.yml"
    config.write_text(with_remote_write(scrape_config(nginx_port, targets, interval),
                                        scraper, write_url))
    web_port = free_port()
    log = open(run_dir / "log", "w")
    argv = command(scraper, promshard, config, run_dir, web_port, write_url)
    if args.wrap and scraper == "promshard":
        # A profiler in front (e.g. `heaptrack -o DIR/ht`): its own figures, not ours.
        argv = args.wrap.split() + argv
    # Its own process group, so a wrapper's children are stopped with it.
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(args.warmup)
        if proc.poll() is not None:
            raise SystemExit(f"{scraper} exited: see {run_dir / 'log'}")
        lost0 = samples_lost(web_port)
        (user0, sys0), t0 = cpu_seconds(proc.pid), time.time()
        rss = []
        while time.time() - t0 < args.window:
            time.sleep(1)
            rss.append(rss_bytes(proc.pid))
        (user1, sys1), t1 = cpu_seconds(proc.pid), time.time()
        peak = peak_rss_bytes(proc.pid)
        lost = samples_lost(web_port) - lost0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    samples = targets * series * (t1 - t0) / interval
    cpu0, cpu1 = user0 + sys0, user1 + sys1
    return {
        "scraper": scraper,
        "shape": shape,
        "targets": targets,
        "series": targets * series,
        "interval_s": interval,
        "window_s": round(t1 - t0, 1),
        "cpu_s": round(cpu1 - cpu0, 2),
        "cpu_us_per_sample": round((cpu1 - cpu0) * 1e6 / samples, 3),
        "system_us_per_sample": round((sys1 - sys0) * 1e6 / samples, 3),
        "steady_rss_mib": round(statistics.median(rss) / 2**20, 1),
        "peak_rss_mib": round(peak / 2**20, 1),
        "samples_lost": int(lost),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=list(SHAPES) + ["all"], default="all")
    parser.add_argument("--scrapers", default="promshard,vmagent,prometheus")
    parser.add_argument("--targets", default="",
                        help="comma-separated target counts to measure instead of the shape's")
    parser.add_argument("--warmup", type=float, default=60, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=120, help="seconds measured")
    parser.add_argument("--settle", type=float, default=20,
                        help="idle seconds before each scraper starts, so one that just exited "
                             "(the Prometheus agent frees gigabytes) does not load the next")
    parser.add_argument("--work", default=str(REPO / "target" / "e2e"))
    parser.add_argument("--out", default="")
    parser.add_argument("--promshard", default="")
    parser.add_argument("--wrap", default="",
                        help="command to run promshard under, e.g. 'heaptrack -o /tmp/ht' "
                             "(CPU and memory figures then include it)")
    args = parser.parse_args()

    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    promshard = args.promshard or str(target_dir / "release" / "promshard")
    for program in ["nginx", "vmagent", "prometheus"]:
        if not shutil.which(program) and program in args.scrapers + ",nginx":
            raise SystemExit(f"{program} is not installed (apt-get install nginx-light victoria-metrics prometheus)")
    if not Path(promshard).exists():
        raise SystemExit(f"{promshard} is missing: cargo build --release")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    shapes = list(SHAPES) if args.shape == "all" else [args.shape]
    results = []
    for shape in shapes:
        default_targets, series, _ = SHAPES[shape]
        sizes = [int(t) for t in args.targets.split(",") if t] or [default_targets]
        # Bodies for the largest size serve the smaller ones too (targets t0..t<n-1>).
        targets = max(sizes)
        root = work / f"bodies-{shape}-{series}"
        if not (root / f"t{targets - 1}" / "metrics.gz").exists():
            write_bodies(promshard, shape, targets, series, root)
        nginx, nginx_port = start_nginx(root, work)
        try:
            for size in sizes:
                for scraper in args.scrapers.split(","):
                    time.sleep(args.settle)
                    result = measure(scraper, args, shape, size, nginx_port, work, promshard)
                    print(json.dumps(result), file=sys.stderr)
                    results.append(result)
        finally:
            nginx.terminate()
            nginx.wait()
    out = Path(args.out) if args.out else work / "results.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print("| shape | scraper | series | CPU-µs per sample | steady RSS | peak RSS | samples lost |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['shape']} ({r['targets']} × {r['series'] // r['targets']:,} every "
              f"{r['interval_s']} s) | {r['scraper']} | {r['series']:,} | "
              f"{r['cpu_us_per_sample']} | {r['steady_rss_mib']} MiB | {r['peak_rss_mib']} MiB | "
              f"{r['samples_lost']:,} |")
    lost = [r for r in results if r["samples_lost"]]
    for r in lost:
        print(f"{r['scraper']} on {r['shape']} ({r['series']:,} series) dropped or failed to send "
              f"{r['samples_lost']:,} samples in the window: its figures do not count",
              file=sys.stderr)
    if lost:
        sys.exit(1)


if __name__ == "__main__":
    main()
