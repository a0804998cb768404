"""Signal charts as inline SVG, drawn on the server: no script, no external library."""

from __future__ import annotations

from html import escape

COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4",
           "#57606a")


def rssi_svg(series: dict[str, list[tuple[float, float]]], labels: dict[str, str], t0: float,
             t1: float, width: int = 720, height: int = 220) -> str:
    """One line per BSSID: signal (dBm, -100 … -20) over the last day."""
    pad_l, pad_b, pad_t = 40, 20, 10
    w, h = width - pad_l - 10, height - pad_b - pad_t
    span = max(t1 - t0, 1.0)

    def x(t: float) -> float:
        return pad_l + (t - t0) / span * w

    def y(dbm: float) -> float:
        return pad_t + (-20 - max(-100.0, min(-20.0, dbm))) / 80 * h

    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'xmlns="http://www.w3.org/2000/svg">']
    for dbm in (-30, -50, -70, -90):
        out.append(f'<line x1="{pad_l}" x2="{width - 10}" y1="{y(dbm):.1f}" y2="{y(dbm):.1f}" '
                   'class="grid"/>')
        out.append(f'<text x="2" y="{y(dbm) + 4:.1f}" class="axis">{dbm}</text>')
    for i, (bssid, pts) in enumerate(series.items()):
        if not pts:
            continue
        c = COLOURS[i % len(COLOURS)]
        d = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{d}">'
                   f"<title>{escape(labels.get(bssid, ''))} {escape(bssid)}</title></polyline>")
        if len(pts) < 120:  # a short capture is a minute or two: dots, or nothing would show
            out += [f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{c}"/>'
                    for t, v in pts]
    out.append("</svg>")
    return "".join(out)
