#!/usr/bin/env python3
"""SVG plots of benches/e2e/run.py results: CPU per sample and steady memory against the
number of series, one line per scraper, one row per shape. No plotting library needed.

    benches/e2e/plot.py benches/e2e/e2e.svg target/e2e/results.json [more.json ...]
"""

import json
import sys
from html import escape

COLORS = {"promshard": "#1f5fbf", "vmagent": "#d88a00", "prometheus": "#c62828"}
PANEL_W, PANEL_H, MARGIN = 420, 260, 60


def panel(x0, y0, title, points_by_scraper, unit):
    """One chart: x = series, y = value; returns SVG elements."""
    xs = [x for pts in points_by_scraper.values() for x, _ in pts]
    ys = [y for pts in points_by_scraper.values() for _, y in pts]
    if not xs:
        return []
    x_max = max(xs) * 1.1
    y_max = max(ys) * 1.15 or 1
    sx = lambda x: x0 + MARGIN + 10 + x / x_max * (PANEL_W - MARGIN - 10)
    sy = lambda y: y0 + PANEL_H - 40 - y / y_max * (PANEL_H - 70)
    out = [
        f'<text x="{x0 + PANEL_W / 2}" y="{y0 + 18}" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(x_max)}" y2="{sy(0)}" stroke="#333"/>',
        f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(0)}" y2="{sy(y_max)}" stroke="#333"/>',
        f'<text x="{x0 + PANEL_W / 2}" y="{y0 + PANEL_H - 8}" text-anchor="middle">series</text>',
        f'<text x="{x0 + 12}" y="{y0 + PANEL_H / 2}" transform="rotate(-90 {x0 + 12} {y0 + PANEL_H / 2})" text-anchor="middle">{escape(unit)}</text>',
    ]
    for i in range(5):
        y = y_max * i / 4
        label = f"{y:,.0f}" if y_max >= 100 else f"{y:.3g}"
        out.append(f'<text x="{sx(0) - 6}" y="{sy(y) + 4}" text-anchor="end" font-size="11">{label}</text>')
        out.append(f'<line x1="{sx(0)}" y1="{sy(y)}" x2="{sx(x_max)}" y2="{sy(y)}" stroke="#eee"/>')
    for x in sorted(set(xs)):
        out.append(f'<text x="{sx(x)}" y="{sy(0) + 16}" text-anchor="middle" font-size="11">{x:,}</text>')
    for scraper, pts in points_by_scraper.items():
        pts = sorted(pts)
        color = COLORS.get(scraper, "#555")
        if len(pts) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{color}"><title>{escape(scraper)}: {y}</title></circle>')
    return out


def main():
    results = [r for path in sys.argv[2:] for r in json.load(open(path))]
    shapes = sorted({r["shape"] for r in results})
    scrapers = sorted({r["scraper"] for r in results}, key=lambda s: list(COLORS).index(s) if s in COLORS else 9)
    width, height = 2 * PANEL_W + 20, len(shapes) * PANEL_H + 50
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for row, shape in enumerate(shapes):
        rows = [r for r in results if r["shape"] == shape]
        cpu = {s: [(r["series"], r["cpu_us_per_sample"]) for r in rows if r["scraper"] == s] for s in scrapers}
        mem = {s: [(r["series"], r["steady_rss_mib"]) for r in rows if r["scraper"] == s] for s in scrapers}
        svg += panel(0, row * PANEL_H, f"{shape}: CPU per sample", cpu, "CPU-µs per sample")
        svg += panel(PANEL_W + 20, row * PANEL_H, f"{shape}: steady RSS", mem, "MiB")
    for i, scraper in enumerate(scrapers):
        x = 20 + i * 140
        y = height - 18
        svg.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLORS.get(scraper, "#555")}"/>')
        svg.append(f'<text x="{x + 18}" y="{y}">{escape(scraper)}</text>')
    svg.append("</svg>")
    open(sys.argv[1], "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
