"""The printable report: HTML from the export document (every value escaped), PDF by
WeasyPrint. Japanese first; English when asked. Charts are inline SVG (no scripts, no network).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from appliance.display import display_safe
from appliance.domain import SEVERITIES_WORST_FIRST
from appliance.wording import VERDICT as WORDS
from appliance.wording import confidence, confidence_level, measure_label, severity

# the verdict words are the CLI's and the dashboard's (appliance.wording); the report's summary
# table orders its columns best to worst
VERDICT = {lang: {v: words[v] for v in ("pass", "warn", "fail", "unknown", "expired",
                                        "evidence_invalid", "not_applicable")}
           for lang, words in WORDS.items()}
LEVEL = {"ja": {"basic": "基本", "advanced": "応用", "unknown": "対象外"},
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
           "remedy": "次にすること", "confidence": "確度", "opened": "期間内の発生",
           "closed": "期間内の解決", "ttr": "解決までの時間（時間）", "tests": "テスト通知",
           "more": "ほか {n} 件は {f} に記載しています。", "na": "該当なし",
           "h_rule": "ルール", "h_sev": "重大度", "h_status": "状態", "h_ch": "チャネル",
           "h_sec": "暗号化", "h_vendor": "メーカー", "h_dbm": "電波強度（dBm）",
           "h_first": "初回検出", "h_last": "最終検出", "h_fw": "ファームウェア",
           "h_start": "開始", "h_jobs": "ジョブ", "h_hosts": "ホスト", "h_ports": "ポート",
           "h_checks": "確認", "h_fail": "不合格", "h_measure": "対策", "h_check": "確認項目",
           "h_result": "結果", "h_by": "実施者", "h_date": "日付", "h_until": "期限",
           "h_evidence": "証跡", "yes": "あり", "perday_max": "1日の最大"},
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
           "more": "{n} more in {f}.", "na": "None in this period.",
           "h_rule": "rule", "h_sev": "severity", "h_status": "status", "h_ch": "ch",
           "h_sec": "security", "h_vendor": "vendor", "h_dbm": "dBm", "h_first": "first seen",
           "h_last": "last seen", "h_fw": "firmware", "h_start": "start", "h_jobs": "jobs",
           "h_hosts": "hosts", "h_ports": "ports", "h_checks": "checks", "h_fail": "fail",
           "h_measure": "measure", "h_check": "check", "h_result": "result", "h_by": "by",
           "h_date": "date", "h_until": "until", "h_evidence": "evidence", "yes": "on",
           "perday_max": "max per day"},
}
CSS = """
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: counter(page) " / " counter(pages);
  font-size: 8pt; } }
body { font-family: "IPAGothic", "IPAexGothic", "Noto Sans CJK JP", sans-serif; font-size: 9pt;
  color: #222; }
h1 { font-size: 16pt; margin: 0 0 3mm; } h2 { font-size: 12pt; border-bottom: 1px solid #999;
  margin-top: 6mm; page-break-after: avoid; } h3 { font-size: 10pt; margin: 4mm 0 1mm;
  page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; }
th, td { border: 1px solid #bbb; padding: 1mm 1.5mm; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #eee; white-space: nowrap; word-break: keep-all; }
td.id, td.num, td.date, span.id { white-space: nowrap; overflow-wrap: normal; }
td.num { text-align: right; } td.key { font-size: 6.5pt; }
.big { font-size: 20pt; font-weight: bold; margin: 3mm 0 2mm; }
.disclaimer { border: 1px solid #c00; padding: 2mm; color: #900; }
.none { color: #666; }
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


STATUS = {"ja": {"open": "未対応", "acknowledged": "確認済み", "resolved": "解決済み",
                "reopened": "再発"},
          "en": {"open": "open", "acknowledged": "acknowledged", "resolved": "resolved",
                 "reopened": "reopened"}}
FW = {"ja": {"current": "最新", "outdated": "旧版", "unsafe": "要更新（脆弱）",
             "component": "部品のみ判定", "unknown (no probe data)": "不明（診断データなし）"},
      "en": {}}
PMF = {"ja": {"none": "なし", "capable": "対応", "required": "必須"}, "en": {}}
SECURITY = {"ja": {"OPEN": "暗号化なし", "WEP": "WEP（脆弱）", "WPA": "WPA（脆弱）"}, "en": {}}


def _when(text: Any, tz: str) -> str:
    """An ISO time of the export document in the facility's zone, with the year."""
    if not text:
        return ""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(
            ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    except (ValueError, KeyError):
        return str(text)


def _none(t: dict[str, str]) -> str:
    return f'<p class="none">{e(t["na"])}</p>'


def _verdict(v: str, lang: str) -> str:
    return f'<span class="v-{e(v)}">{e(VERDICT[lang].get(v, v))}</span>'


def _bar_chart(daily: dict[str, dict[str, int]], t: dict[str, str], lang: str) -> str:
    days = sorted(daily)
    if not days:
        return _none(t)
    sevs = SEVERITIES_WORST_FIRST
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
        if i % max(1, len(days) // 6) == 0:  # a full date (with the year) every few bars
            parts.append(f'<text x="{10 + i * (bw + 2)}" y="{h + 14}" font-size="8">'
                         f'{e(d)}</text>')
    parts.append(f'<text x="10" y="{h + 28}" font-size="8">{e(t["perday_max"])} {top} · '
                 + " ".join(f'<tspan fill="{colours[s]}">■{e(severity(s, lang))}</tspan>'
                            for s in sevs)
                 + "</text></svg>")
    return "".join(parts)


def _survey_chart(surveys: list[dict[str, Any]], t: dict[str, str]) -> str:
    rows = [(s["label"], b) for s in surveys for b in s["bssids"]
            if b["rssi_mean_dbm"] is not None]
    if not rows:
        return _none(t)
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

    tz = str(doc.get("timezone") or "Asia/Tokyo")

    def title(o: dict[str, Any]) -> str:
        return str(o[key])
    out = [f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
           f"<title>{e(t['title'])}</title><style>{CSS}</style></head><body>"]
    level = est.get("confidence_level") or confidence_level(float(est["confidence"]))
    out.append(f'<section class="cover"><h1>{e(t["title"])}</h1>'
               f"<p>{e(c.get('report_title_ja' if lang == 'ja' else 'report_title_en', ''))}</p>"
               f"<p>「{e(doc.get('framework_title_ja', ''))}」</p><table>"
               f"<tr><th>{e(t['facility'])}</th><td>"
               f"{e(doc['facility']['name'] or doc['facility']['id'])}</td></tr>"
               f"<tr><th>{e(t['period'])}</th><td>{e(doc['period']['from'])} – "
               f"{e(doc['period']['to'])}</td></tr>"
               f"<tr><th>{e(t['appliance'])}</th><td>{e(doc['appliance_id'])}</td></tr>"
               f"<tr><th>{e(t['key'])}</th><td class=\"id key\">"
               f"{e(doc.get('signing_key_sha256'))}</td></tr>"
               f"</table><p>{e(t['level'])}</p><div class=\"big\">{e(label)}</div>"
               f"<p>{e(t['grades'])}: " + " / ".join(
                   f"{e(title(a))} {e(c['grades'][a['id']])}" for a in c.get("axes", ()))
               + f" · {e(t['confidence'])} {e(confidence(level, lang))}</p>"
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
        out.append(f'<div class="measure"><h3>{e(measure_label(m["measure"]))} {e(title(m))} '
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
            out.append(f"<table><tr><th>{e(t['h_rule'])}</th><th>{e(t['findings'])}</th>"
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
            out.append(f"<table><tr><th>{e(t['findings'])}</th><th>{e(t['h_sev'])}</th>"
                       f"<th>{e(t['h_status'])}</th><th>{e(t['opened'])}</th><th>{e(t['closed'])}</th>"
                       f"<th>{e(t['ttr'])}</th></tr>")
            for f in shown:
                out.append(f"<tr><td>{e(title(f))}: <span class=\"id\">{e(f['subject'])}"
                           f"</span></td><td class=\"id\">{e(severity(f['severity'], lang))}</td>"
                           f"<td class=\"id\">{e(STATUS[lang].get(f['status'], f['status']))}"
                           "</td>"
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
    out.append(f"<h2>{e(t['aps'])}</h2>")
    if not doc["access_points"]:
        out.append(_none(t))
    else:
        out.append(f"<table><tr><th>BSSID</th><th>SSID</th><th>{e(t['h_ch'])}</th>"
                   f"<th>{e(t['h_sec'])}</th><th>PMF</th><th>WPS</th>"
                   f"<th>{e(t['h_vendor'])}</th><th>{e(t['h_dbm'])}</th></tr>")
        for a in doc["access_points"][:MAX_TABLE_ROWS]:
            out.append(f"<tr><td class=\"id\">{e(a['bssid'])}</td><td>{e(a['ssid'])}</td>"
                       f"<td class=\"num\">{e(a['channel'])}</td><td class=\"id\">"
                       f"{e(SECURITY[lang].get(a['security'], a['security']))}</td>"
                       f"<td>{e(PMF[lang].get(a['pmf'], a['pmf']))}</td>"
                       f"<td>{e(t['yes']) if a['wps'] else ''}</td><td>{e(a['vendor'])}</td>"
                       f"<td class=\"num\">{e(a['rssi_mean_dbm'])}</td></tr>")
        out.append("</table>" + _more(t, len(doc["access_points"]), "access_points.csv"))
    out.append(f"<h2>{e(t['devices'])}</h2>")
    if not doc["devices"]:
        out.append(_none(t))
    else:
        out.append(f"<table><tr><th>IP</th><th>MAC</th><th>{e(t['h_vendor'])}</th>"
                   f"<th>{e(t['h_first'])}</th><th>{e(t['h_last'])}</th>"
                   f"<th>{e(t['h_fw'])}</th></tr>")
        for d in doc["devices"][:MAX_TABLE_ROWS]:
            fw = d["firmware_status"]
            out.append(f"<tr><td class=\"id\">{e(d['ip'])}</td><td class=\"id\">"
                       f"{e(d['mac'])}</td><td>{e(d['vendor'])}</td>"
                       f"<td class=\"date\">{e(_when(d['first_seen'], tz))}</td>"
                       f"<td class=\"date\">{e(_when(d['last_seen'], tz))}</td>"
                       f"<td>{e(FW[lang].get(fw, fw) if fw else '')}</td></tr>")
        out.append("</table>" + _more(t, len(doc["devices"]), "devices.csv"))
    out.append(f"<h2>{e(t['probes'])}</h2>")
    if not doc["probe_runs"]:
        out.append(f"<p>{e(t['no_probes'])}</p>")
    else:
        out.append(f"<table><tr><th>{e(t['h_start'])}</th><th>{e(t['h_jobs'])}</th>"
                   f"<th>{e(t['h_hosts'])}</th><th>{e(t['h_ports'])}</th>"
                   f"<th>{e(t['h_checks'])}</th><th>{e(t['h_fail'])}</th></tr>")
        for r in doc["probe_runs"][:MAX_TABLE_ROWS]:
            out.append(f"<tr><td class=\"date\">{e(_when(r['started_at'], tz))}</td>"
                       f"<td>{e(','.join(r['jobs']))}</td>"
                       f"<td>{e(r['hosts'])}</td><td>{e(r['open_ports'])}</td>"
                       f"<td>{e(r['checks'])}</td><td>{e(r['failed'])}</td></tr>")
        out.append("</table>" + _more(t, len(doc["probe_runs"]), "probe_runs.csv"))
    out.append(f"<h2>{e(t['attest'])}</h2>")
    if not doc["attestations"]:
        out.append(_none(t))
    else:
        out.append(f"<table><tr><th>#</th><th>{e(t['h_measure'])}</th><th>{e(t['h_check'])}"
                   f"</th><th>{e(t['h_result'])}</th><th>{e(t['h_by'])}</th>"
                   f"<th>{e(t['h_date'])}</th><th>{e(t['h_until'])}</th>"
                   f"<th>{e(t['h_evidence'])}</th></tr>")
        for a in doc["attestations"]:
            ev = ", ".join(f"{x['name']} ({x['sha256'][:12]}…"
                           f"{'' if x['hash_ok'] else ' CHANGED'})" for x in a["evidence"])
            out.append(f"<tr><td>{e(a['id'])}</td><td class=\"id\">"
                       f"{e(measure_label(a['measure']))}</td><td>{e(a['check'])}</td>"
                       f"<td>{_verdict(a['result'], lang)}</td><td>{e(a['by'])}</td>"
                       f"<td class=\"date\">{e(a['attested_on'])}</td>"
                       f"<td class=\"date\">{e(a['expires_on'])}</td><td>{e(ev)}</td></tr>")
        out.append("</table>")
    out.append(f"<h2>{e(t['tests'])}</h2>")
    if not doc["alert_tests"]:
        out.append(_none(t))
    else:
        out.append("<ul>" + "".join(
            f"<li>{e(_when(x['requested_at'], tz))} {e(x['requested_by'])}: "
            f"{e(_when(x['delivered_at'], tz) or x['error'])}</li>"
            for x in doc["alert_tests"]) + "</ul>")
    out.append(f'<h2 class="chart">{e(t["charts"])}</h2><h3>{e(t["per_day"])}</h3>'
               f"{_bar_chart(doc['findings_per_day'], t, lang)}<h3>{e(t['survey'])}</h3>"
               f"{_survey_chart(doc['surveys'], t)}")
    priv = doc["privacy"]
    note = priv["note_ja"] if lang == "ja" else priv["note_en"]
    out.append(f"<h2>{e(t['privacy'])}</h2><p>{e(note)} ({e(priv['pseudonymised_macs'])})</p>"
               f"<p class=\"disclaimer\">{e(disclaimer)}</p></body></html>")
    return "".join(out)


def render_pdf(html: str, path: Path) -> None:
    import logging

    # before the import: importing WeasyPrint parses its own style sheets and logs each step
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from weasyprint import HTML

    # base_url points nowhere: the report has no external resources, and fetching is refused
    HTML(string=html, base_url="about:blank", url_fetcher=_no_fetch).write_pdf(path)


def _no_fetch(url: str, *_a: Any, **_k: Any) -> dict[str, Any]:
    raise ValueError(f"the report does not load external resources ({url[:40]})")
