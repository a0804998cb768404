"""Japanese first, English too: gettext catalogs (web/locale/<lang>/LC_MESSAGES/messages.po),
read at start-up by a small reader of the .po format (no compile step on the appliance, and
none of Babel's memory in the web process; Babel writes the catalogs), and local-time
formatting."""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("ja", "en")


def parse_po(text: str) -> dict[str, str]:
    """msgid → msgstr of a gettext .po file; fuzzy and untranslated entries are left out."""
    out: dict[str, str] = {}
    entry: dict[str, list[str]] = {}
    field = ""
    fuzzy = pending_fuzzy = False

    def flush() -> None:
        mid, mstr = "".join(entry.get("msgid", [])), "".join(entry.get("msgstr", []))
        if mid and mstr and not fuzzy:
            out[mid] = mstr

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#,"):
            pending_fuzzy = "fuzzy" in line
            continue
        if not line or line.startswith("#"):
            continue
        for key in ("msgid", "msgstr"):
            if line.startswith(key + " "):
                if key == "msgid":
                    flush()
                    entry, fuzzy, pending_fuzzy = {}, pending_fuzzy, False
                field = key
                entry[key] = []
                line = line[len(key) + 1:].strip()
        if field and line.startswith('"') and line.endswith('"'):
            value = ast.literal_eval(line)
            if isinstance(value, str):
                entry.setdefault(field, []).append(value)
    flush()
    return out


@cache
def catalog(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    return parse_po(path.read_text(encoding="utf-8"))


def translator(lang: str) -> Callable[[str], str]:
    table = catalog(lang if lang in LANGUAGES else "ja")

    def _(msgid: str) -> str:
        return table.get(msgid, msgid)

    return _


def pick(lang_cookie: str | None, accept: str | None, default: str) -> str:
    if lang_cookie in LANGUAGES:
        return str(lang_cookie)
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return default


def local_time(ts: float | None, tz: str, seconds: bool = False) -> str:
    if ts is None:
        return "—"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    try:
        return datetime.fromtimestamp(float(ts), zone).strftime(
            "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError, TypeError):
        return "(invalid time)"  # a bad row from an older version: shown, never a 500


def parse_iso(text: str | None) -> float | None:
    """An ISO 8601 time (as the agent writes its heartbeat) as a POSIX timestamp."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# the agent's sensor reasons (English, in its log) as the dashboard says them
_REASONS_JA = (
    ("no monitor-mode interface", "モニターモード対応のWi-Fiアダプタが設定されていません"
     "（interfaces.monitor が空）。Wi-Fi監視は行っていません。"),
    ("no LAN interface", "LANのインターフェースが見つかりません（interfaces.lan が空で、既定の"
     "経路もありません）。LAN監視は行っていません。"),
    ("does not exist", "設定されたインターフェースがありません。設定を確認してください。"),
    ("CAP_NET_RAW", "パケットを受信する権限（CAP_NET_RAW）がありません。監視は行っていません。"),
    ("mqtt.host is empty", "通知先（MQTTブローカー）が未設定です。検出事項はダッシュボードで"
     "確認できます。"),
    ("probe.scope is empty", "診断の対象範囲が空のため、受信のみ行っています（既定）。"),
    ("injected radio source", "テスト用の電波入力から受信中"),
    ("passive ARP on", "ARPを受信して監視中"),
    ("alerts to ", "スタッフへの通知が有効"),
    ("hopping over", "チャネルを切り替えながら監視中"),
    ("fixed on channel", "固定チャネルで監視中"),
    ("scope ", "許可された範囲を定期的に診断中"),
)
SENSORS_JA = {"lan": "LAN監視", "wifi": "Wi-Fi監視", "mqtt": "通知（MQTT）", "probe": "機器診断"}


def sensor_reason(detail: str, lang: str = "ja") -> str:
    """A sensor's reason in Japanese when we know it; the original otherwise (as a detail)."""
    if lang != "ja":
        return detail
    for key, ja in _REASONS_JA:
        if key.lower() in (detail or "").lower():
            return ja
    return detail


EVIDENCE_KEYS_JA = {
    "gateway": "ゲートウェイ", "macs": "名乗ったMACアドレス", "mac": "MACアドレス",
    "ip": "IPアドレス",
    "ips": "IPアドレス", "bssid": "BSSID", "bssids": "BSSID", "ssid": "SSID",
    "old_macs": "以前のMAC", "mac_list": "MACアドレス（一覧）",
    "security": "暗号化方式", "reasons": "理由", "count": "回数", "rssi": "電波強度",
    "rssi_dbm": "電波強度（dBm）", "signal_dbm": "電波強度（dBm）", "channel": "チャネル",
    "channels": "チャネル", "pmf": "PMF（管理フレーム保護）", "wps": "WPS",
    "profiles": "設定の組み合わせ", "facility_ssid": "施設のSSID", "vendor": "メーカー",
    "ports": "ポート", "port": "ポート", "service": "サービス", "banner": "応答",
    "firmware": "ファームウェア", "threshold_dbm": "しきい値（dBm）", "old_mac": "以前のMAC",
    "new_mac": "新しいMAC", "frames": "フレーム数", "per_s": "毎秒", "advisories": "脆弱性情報",
    "host": "ホスト", "url": "URL", "expires": "有効期限", "tls": "TLS", "akm": "認証方式",
    "pairwise": "暗号スイート", "tx_power_dbm": "送信出力（dBm）", "survey": "測定",
    "location": "場所", "similar_to": "似ているSSID", "distance": "文字の違い",
    "first_seen": "初回検出", "last_seen": "最終検出", "disk_free_mb": "ディスク空き（MB）",
    "reason": "理由", "seconds_since_previous_claim": "前回の名乗りからの秒数",
    "window_s": "判定の時間幅（秒）", "op": "ARPの種類", "previous_mac": "以前のMAC",
    "claimed_ip": "名乗ったIPアドレス", "rule": "ルール", "frames_seen": "受信フレーム数",
}
EVIDENCE_VALUES_JA = {
    "reply": "応答", "request": "要求", "none": "なし", "capable": "対応", "required": "必須",
    "address claimed by another MAC within the window":
        "判定の時間幅の中で、別のMACアドレスが同じIPアドレスを名乗りました",
    "MAC asks for an address it claims as its own":
        "自分のものとして名乗っているアドレスを問い合わせています",
    "OPEN": "暗号化なし",
}


def evidence_items(evidence: dict[str, object], lang: str) -> list[tuple[str, str]]:
    """A finding's evidence as labelled, readable lines (never a Python repr)."""
    yes, no = ("はい", "いいえ") if lang == "ja" else ("yes", "no")

    def text(v: object) -> str:
        if isinstance(v, bool):
            return yes if v else no
        if v is None:
            return "—"
        if isinstance(v, list | tuple | set):
            return "、".join(text(x) for x in v) if lang == "ja" else ", ".join(
                text(x) for x in v)
        if isinstance(v, dict):
            return "; ".join(f"{label(str(k))}: {text(x)}" for k, x in v.items())
        if lang == "ja" and isinstance(v, str):
            return EVIDENCE_VALUES_JA.get(v, v)
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    def label(k: str) -> str:
        return EVIDENCE_KEYS_JA.get(k, k) if lang == "ja" else k.replace("_", " ")

    return [(label(str(k)), text(v)) for k, v in evidence.items()]
