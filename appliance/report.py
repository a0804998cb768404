"""The printable report: HTML from the export document (every value escaped), PDF by
WeasyPrint. Japanese first; English when asked. Charts are inline SVG (no scripts, no network).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from appliance.display import display_safe

VERDICT = {
    "ja": {"pass": "適合", "warn": "注意", "fail": "不適合", "unknown": "データなし",
           "expired": "期限切れ", "evidence_invalid": "証跡無効", "not_applicable": "対象外"},
    "en": {"pass": "pass", "warn": "warning", "fail": "fail", "unknown": "no data",
           "expired": "expired", "evidence_invalid": "evidence invalid",
           "not_applicable": "n/a"},
}
LEVEL = {"ja": {"basic": "基本", "advanced": "応用", "unknown": "不明"},
         "en": {"basic": "basic", "advanced": "advanced", "unknown": "unknown"}}
T = {
    "ja": {"title": "セキュリティ対策 検査用エクスポート", "facility": "施設", "period": "対象期間",
           "appliance": "機器ID", "level": "推定認証レベル", "grades": "総合評価",
           "audit": "情報セキュリティ監査", "vuln": "脆弱性診断", "summary": "カテゴリ別の状況",
           "measures": "対策ごとの評価", "checks": "確認項目", "findings": "検出事項",
           "none": "なし", "aps": "Wi-Fiアクセスポイント", "devices": "LAN上の端末",
           "probes": "定期診断の実施記録（1-④）", "no_probes": "機器診断はまだ実施されていません。",
           "attest": "証跡（申告）", "charts": "グラフ", "per_day": "日別の新規検出",
           "survey": "電波漏れ調査", "privacy": "個人情報の扱い",
           "key": "署名鍵（公開鍵のSHA-256）",
           "remedy": "次にすること", "confidence": "信頼度", "opened": "期間内の発生",
           "closed": "期間内の解決", "ttr": "解決までの時間（時間）", "tests": "テスト通知",
           "more": "ほか {n} 件は {f} に記載しています。"},
    "en": {"title": "Security measures: inspector export", "facility": "Facility",
           "period": "Period", "appliance": "Appliance id", "level": "Estimated level",
           "grades": "Grades", "audit": "Information security audit",
           "vuln": "Vulnerability assessment", "summary": "Categories", "measures": "Measures",
           "checks": "Checks", "findings": "Findings", "none": "none",
           "aps": "Wi-Fi access points", "devices": "Devices on the LAN",
           "probes": "Periodic checks performed (1-④)",
           "no_probes": "No device probe has run yet.", "attest": "Attestations",
           "charts": "Charts", "per_day": "New findings per day", "survey": "Leakage surveys",
           "privacy": "Personal data", "key": "Signing key (SHA-256 of the public key)",
           "remedy": "What to do", "confidence": "confidence", "opened": "opened",
           "closed": "closed", "ttr": "hours to resolve", "tests": "Test alerts",
           "more": "{n} more in {f}."},
}
CSS = """
@page { size: A4; margin: 16mm 14mm; @bottom-right { content: counter(page) " / " counter(pages);
  font-size: 8pt; } }
body { font-family: "IPAGothic", "IPAexGothic", "Noto Sans CJK JP", sans-serif; font-size: 9pt;
  color: #222; }
h1 { font-size: 18pt; margin: 0 0 4mm; } h2 { font-size: 13pt; border-bottom: 1px solid #999;
  margin-top: 8mm; page-break-after: avoid; } h3 { font-size: 10pt; margin: 4mm 0 1mm; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; }
th, td { border: 1px solid #bbb; padding: 1mm 1.5mm; text-align: left; vertical-align: top;
  word-break: break-all; }
th { background: #eee; } .cover { page-break-after: always; }
.big { font-size: 24pt; font-weight: bold; margin: 6mm 0 2mm; }
.disclaimer { border: 1px solid #c00; padding: 2mm; color: #900; }
.v-pass { color: #176b2c; } .v-fail, .v-expired { color: #b00; font-weight: bold; }
.v-warn { color: #a60; } .v-unknown { color: #666; }
.measure { page-break-inside: avoid; } .chart { page-break-before: always; }
"""


# The printed report stays readable (and light to render): long lists are summarised and cut,
# and the CSV and JSON files beside it carry every row.
MAX_ROWS_PER_MEASURE = 10
MAX_TABLE_ROWS = 100
SEV_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _more(t: dict[str, str], total: int, csv_name: str) -> str:
    if total <= MAX_TABLE_ROWS:
        return ""
    return f"<p>{e(t['more'].format(n=total - MAX_TABLE_ROWS, f=csv_name))}</p>"


def e(v: Any) -> str:
    """Escaped for HTML, with bidi and control characters shown as ⟨U+XXXX⟩ markers."""
    return escape(display_safe(v), quote=True)


def _verdict(v: str, lang: str) -> str:
    return f'<span class="v-{e(v)}">{e(VERDICT[lang].get(v, v))}</span>'


def _bar_chart(daily: dict[str, dict[str, int]]) -> str:
    days = sorted(daily)
    if not days:
        return "<p>–</p>"
    sevs = ("critical", "high", "medium", "low", "info")
    colours = {"critical": "#900", "high": "#d33", "medium": "#e90", "low": "#48c",
               "info": "#999"}
    top = max(sum(daily[d].values()) for d in days) or 1
    w, h, bw = 700, 180, max(4, min(30, 680 // len(days)))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 30}">']
    for i, d in enumerate(days):
        y = float(h)
        for s in sevs:
            n = daily[d].get(s, 0)
            if not n:
                continue
            bh = n / top * (h - 10)
            y -= bh
            parts.append(f'<rect x="{10 + i * (bw + 2)}" y="{y:.1f}" width="{bw}" '
                         f'height="{bh:.1f}" fill="{colours[s]}"/>')
        if i % max(1, len(days) // 10) == 0:
            parts.append(f'<text x="{10 + i * (bw + 2)}" y="{h + 14}" font-size="8">'
                         f'{e(d[5:])}</text>')
    parts.append(f'<text x="10" y="{h + 28}" font-size="8">max {top}/day · '
                 + " ".join(f'<tspan fill="{colours[s]}">■{s}</tspan>' for s in sevs)
                 + "</text></svg>")
    return "".join(parts)


def _survey_chart(surveys: list[dict[str, Any]]) -> str:
    rows = [(s["label"], b) for s in surveys for b in s["bssids"]
            if b["rssi_mean_dbm"] is not None]
    if not rows:
        return "<p>–</p>"
    w = 700
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{len(rows) * 18 + 20}">']
    for i, (label, b) in enumerate(rows):
        val = b["rssi_mean_dbm"]
        length = max(0.0, (val + 100) / 100 * 420)
        threshold = next(s["threshold_dbm"] for s in surveys if s["label"] == label)
        colour = "#d33" if val > threshold else "#48c"
        parts.append(f'<text x="0" y="{i * 18 + 12}" font-size="8">{e(label)} '
                     f'{e(b["ssid"])}</text><rect x="260" y="{i * 18 + 3}" width="{length:.0f}" '
                     f'height="12" fill="{colour}"/><text x="{265 + length:.0f}" '
                     f'y="{i * 18 + 12}" font-size="8">{val} dBm</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(doc: dict[str, Any], lang: str = "ja") -> str:
    t = T[lang]
    c = doc["compliance"]
    est = c["estimate"]
    label = est["label_ja"] if lang == "ja" else est["label_en"]
    disclaimer = est["disclaimer_ja"] if lang == "ja" else est["disclaimer_en"]
    key = "title_ja" if lang == "ja" else "title_en"

    def title(o: dict[str, Any]) -> str:
        return str(o[key])
    out = [f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
           f"<title>{e(t['title'])}</title><style>{CSS}</style></head><body>"]
    out.append(f'<section class="cover"><h1>{e(t["title"])}</h1>'
               f"<p>{e(c.get('report_title_ja' if lang == 'ja' else 'report_title_en', ''))}</p>"
               f"<p>「{e(doc.get('framework_title_ja', ''))}」</p><table>"
               f"<tr><th>{e(t['facility'])}</th><td>{e(doc['facility']['name'])} "
               f"({e(doc['facility']['id'])})</td></tr>"
               f"<tr><th>{e(t['period'])}</th><td>{e(doc['period']['from'])} – "
               f"{e(doc['period']['to'])}</td></tr>"
               f"<tr><th>{e(t['appliance'])}</th><td>{e(doc['appliance_id'])}</td></tr>"
               f"<tr><th>{e(t['key'])}</th><td>{e(doc.get('signing_key_sha256'))}</td></tr>"
               f"</table><p>{e(t['level'])}</p><div class=\"big\">{e(label)}</div>"
               f"<p>{e(t['grades'])}: " + " / ".join(
                   f"{e(title(a))} {e(c['grades'][a['id']])}" for a in c.get("axes", ()))
               + f" · {e(t['confidence'])} {e(est['confidence'])}</p>"
               f"<p class=\"disclaimer\">{e(disclaimer)}</p>"
               f"</section>")
    out.append(f"<h2>{e(t['summary'])}</h2><table><tr><th>#</th><th>{e(t['measures'])}</th>"
               + "".join(f"<th>{e(VERDICT[lang][v])}</th>" for v in VERDICT[lang]) + "</tr>")
    for cat in sorted({m["category"] for m in c["measures"]}):
        ms = [m for m in c["measures"] if m["category"] == cat]
        out.append(f"<tr><td>{cat}</td><td>{len(ms)}</td>" + "".join(
            f"<td>{sum(1 for m in ms if m['verdict'] == v)}</td>" for v in VERDICT[lang])
            + "</tr>")
    out.append(f"</table><h2>{e(t['measures'])}</h2>")
    by_measure: dict[str, list[dict[str, Any]]] = {}
    for f in doc["findings"]:
        by_measure.setdefault(f["measure"], []).append(f)
    for m in c["measures"]:
        out.append(f'<div class="measure"><h3>{e(m["measure"])} {e(title(m))} '
                   f"［{e(LEVEL[lang].get(m['level'], m['level']))}］ — "
                   f"{_verdict(m['verdict'], lang)}</h3><table><tr><th>{e(t['checks'])}</th>"
                   "<th></th><th></th></tr>")
        for ch in m["checks"]:
            ev = ", ".join(f"{x['name']} (sha256 {x['sha256'][:12]}…)"
                           for x in ch.get("evidence", []))
            why = ch.get("reason_ja") if lang == "ja" else ch.get("reason")
            seen = "; ".join(f"{x['what']} ({x['at']})" for x in ch.get("examined", [])[:5])
            out.append(f"<tr><td>{e(title(ch))}</td><td>{_verdict(ch['state'], lang)}</td>"
                       f"<td>{e(why)}{(' · ' + e(ev)) if ev else ''}"
                       f"{('<br><small>' + e(seen) + '</small>') if seen else ''}</td></tr>")
        out.append("</table>")
        fs = by_measure.get(m["measure"], [])
        if fs:
            rules: dict[str, list[dict[str, Any]]] = {}
            for f in fs:
                rules.setdefault(f["rule"], []).append(f)
            out.append(f"<table><tr><th>rule</th><th>{e(t['findings'])}</th>"
                       f"<th>{e(t['opened'])}</th><th>{e(t['closed'])}</th>"
                       f"<th>{e(t['ttr'])}</th></tr>")
            for rule, group in sorted(rules.items()):
                ttrs = [f["hours_to_resolve"] for f in group if f["hours_to_resolve"] is not None]
                out.append(f"<tr><td>{e(rule)}</td><td>{len(group)}</td>"
                           f"<td>{sum(f['opened_in_period'] for f in group)}</td>"
                           f"<td>{sum(f['closed_in_period'] for f in group)}</td>"
                           f"<td>{e(round(sum(ttrs) / len(ttrs), 1)) if ttrs else ''}</td></tr>")
            out.append("</table>")
            # the most severe first, the most recent first within a severity
            shown = sorted(fs, key=lambda f: (SEV_RANK.get(f["severity"], 0), f["last_seen"]),
                           reverse=True)[:MAX_ROWS_PER_MEASURE]
            out.append(f"<table><tr><th>{e(t['findings'])}</th><th>severity</th><th>status"
                       f"</th><th>{e(t['opened'])}</th><th>{e(t['closed'])}</th>"
                       f"<th>{e(t['ttr'])}</th></tr>")
            for f in shown:
                out.append(f"<tr><td>{e(title(f))}: {e(f['subject'])}</td>"
                           f"<td>{e(f['severity'])}</td><td>{e(f['status'])}</td>"
                           f"<td>{e(f['opened_in_period'])}</td><td>{e(f['closed_in_period'])}"
                           f"</td><td>{e(f['hours_to_resolve'])}</td></tr>")
            out.append("</table>")
            if len(fs) > len(shown):
                out.append(f"<p>{e(t['more'].format(n=len(fs) - len(shown), f='findings.csv'))}"
                           "</p>")
        remedy = m["remediation_ja"] if lang == "ja" else m["remediation_en"]
        if remedy:
            out.append(f"<p>{e(t['remedy'])}: {e(remedy)}</p>")
        out.append("</div>")
    out.append(f"<h2>{e(t['aps'])}</h2><table><tr><th>BSSID</th><th>SSID</th><th>ch</th>"
               "<th>security</th><th>PMF</th><th>WPS</th><th>vendor</th><th>dBm</th></tr>")
    for a in doc["access_points"][:MAX_TABLE_ROWS]:
        out.append(f"<tr><td>{e(a['bssid'])}</td><td>{e(a['ssid'])}</td><td>{e(a['channel'])}"
                   f"</td><td>{e(a['security'])}</td><td>{e(a['pmf'])}</td>"
                   f"<td>{'on' if a['wps'] else ''}</td><td>{e(a['vendor'])}</td>"
                   f"<td>{e(a['rssi_mean_dbm'])}</td></tr>")
    out.append("</table>" + _more(t, len(doc["access_points"]), "access_points.csv"))
    out.append(f"<h2>{e(t['devices'])}</h2><table><tr><th>IP</th><th>MAC</th>"
               "<th>vendor</th><th>first</th><th>last</th><th>firmware</th></tr>")
    for d in doc["devices"][:MAX_TABLE_ROWS]:
        out.append(f"<tr><td>{e(d['ip'])}</td><td>{e(d['mac'])}</td><td>{e(d['vendor'])}</td>"
                   f"<td>{e(d['first_seen'])}</td><td>{e(d['last_seen'])}</td>"
                   f"<td>{e(d['firmware_status'])}</td></tr>")
    out.append("</table>" + _more(t, len(doc["devices"]), "devices.csv"))
    out.append(f"<h2>{e(t['probes'])}</h2>")
    if not doc["probe_runs"]:
        out.append(f"<p>{e(t['no_probes'])}</p>")
    else:
        out.append("<table><tr><th>start</th><th>jobs</th><th>hosts</th><th>ports</th>"
                   "<th>checks</th><th>fail</th></tr>")
        for r in doc["probe_runs"][:MAX_TABLE_ROWS]:
            out.append(f"<tr><td>{e(r['started_at'])}</td><td>{e(','.join(r['jobs']))}</td>"
                       f"<td>{e(r['hosts'])}</td><td>{e(r['open_ports'])}</td>"
                       f"<td>{e(r['checks'])}</td><td>{e(r['failed'])}</td></tr>")
        out.append("</table>" + _more(t, len(doc["probe_runs"]), "probe_runs.csv"))
    out.append(f"<h2>{e(t['attest'])}</h2><table><tr><th>#</th><th>measure</th><th>check</th>"
               "<th>result</th><th>by</th><th>date</th><th>until</th><th>evidence</th></tr>")
    for a in doc["attestations"]:
        ev = ", ".join(f"{x['name']} ({x['sha256'][:12]}…{'' if x['hash_ok'] else ' CHANGED'})"
                       for x in a["evidence"])
        out.append(f"<tr><td>{e(a['id'])}</td><td>{e(a['measure'])}</td><td>{e(a['check'])}"
                   f"</td><td>{e(a['result'])}</td><td>{e(a['by'])}</td>"
                   f"<td>{e(a['attested_on'])}</td><td>{e(a['expires_on'])}</td>"
                   f"<td>{e(ev)}</td></tr>")
    out.append(f"</table><h2>{e(t['tests'])}</h2><ul>" + "".join(
        f"<li>{e(x['requested_at'])} {e(x['requested_by'])}: "
        f"{e(x['delivered_at'] or x['error'])}</li>" for x in doc["alert_tests"]) + "</ul>")
    out.append(f'<h2 class="chart">{e(t["charts"])}</h2><h3>{e(t["per_day"])}</h3>'
               f"{_bar_chart(doc['findings_per_day'])}<h3>{e(t['survey'])}</h3>"
               f"{_survey_chart(doc['surveys'])}")
    priv = doc["privacy"]
    note = priv["note_ja"] if lang == "ja" else priv["note_en"]
    out.append(f"<h2>{e(t['privacy'])}</h2><p>{e(note)} ({e(priv['pseudonymised_macs'])})</p>"
               f"<p class=\"disclaimer\">{e(disclaimer)}</p></body></html>")
    return "".join(out)


def render_pdf(html: str, path: Path) -> None:
    import logging

    from weasyprint import HTML

    for name in ("weasyprint", "weasyprint.progress"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    # base_url points nowhere: the report has no external resources, and fetching is refused
    HTML(string=html, base_url="about:blank", url_fetcher=_no_fetch).write_pdf(path)


def _no_fetch(url: str, *_a: Any, **_k: Any) -> dict[str, Any]:
    raise ValueError(f"the report does not load external resources ({url[:40]})")
