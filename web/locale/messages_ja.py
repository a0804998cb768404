"""Source of the Japanese catalog: `python -m web.locale.messages_ja` writes
web/locale/ja/LC_MESSAGES/messages.po (and an English one with empty translations) with Babel.
Edit translations here or in the .po file; tests/test_web.py checks every template string and
every dynamic word has a Japanese translation."""

from __future__ import annotations

JA = {
    # compliance (issue #13)
    "To do: expiring evidence and missing data": "やること：期限が近い証跡・不足しているデータ",
    "expiring": "期限間近",
    "evidence_invalid": "証跡無効", "more on the measures page": "件は対策一覧で確認できます",
    "Nothing expires within 30 days and every check has current data.":
        "30日以内に期限が切れる証跡はなく、すべての項目に最新のデータがあります。",
    "Declared not applicable, but:": "「対象外」と申告されていますが：",
    "Examined": "確認した対象", "missing or changed": "見つからないか改変されています",
    "Read more": "参考資料", "Attest with evidence": "証跡を添えて申告",
    "Recorded.": "記録しました。",
    "Not recorded (nothing was saved):": "記録できませんでした（何も保存していません）：",
    "This measure is not identified in the source: nothing can be attested for it.":
        "出典で内容を確認できない対策のため、申告できません。",
    "Only an administrator can attest.": "申告できるのは管理者だけです。",
    "The appliance measures this itself; there is nothing to attest.":
        "本機が自動で確認する項目のため、申告は不要です。",
    "whole measure (not applicable)": "対策全体（対象外）", "Result": "結果",
    "Evidence file": "証跡ファイル",
    "Valid for (days, empty: the check's default)": "有効日数（空欄：項目の既定値）",
    "Record the attestation": "申告を記録",
    "An attested check passes only with a current evidence file whose hash still matches.":
        "申告は、有効期間内でハッシュが一致する証跡ファイルがある場合にのみ適合になります。",
    "confidence_high": "高", "confidence_medium": "中", "confidence_low": "低",
    "(hidden)": "（非公開）", "Access points": "アクセスポイント", "Acknowledge": "確認済みにする",
    "Add user": "ユーザーを追加", "Administrator user name": "管理者のユーザー名",
    "Agent heartbeat": "エージェントの最終応答", "Agent": "エージェント",
    "Alerts (MQTT)": "通知（MQTT）", "Attestation": "申告", "Audit": "監査", "Broker": "ブローカー",
    "By": "実施者", "Change": "変更", "Channel": "チャネル", "Check": "チェック",
    "Checks": "チェック項目", "Class": "種別", "Create the administrator": "管理者を作成",
    "Created": "作成日時", "Devices": "機器", "Disk": "ディスク",
    "Download (zip)": "ダウンロード（zip）",
    "Each export is signed; check it with officeguard verify-export.":
        "エクスポートには署名があります。officeguard verify-export で検証できます。",
    "Evidence": "根拠", "Exports for the inspector": "検査事業者向けエクスポート",
    "Exports": "エクスポート", "Facility signal, last 24 hours (dBm)": "施設Wi-Fiの電波強度（過去24時間, dBm）",
    "Facility": "施設", "Failed": "不合格", "Filter": "絞り込み", "Finding": "検出事項",
    "Findings": "検出事項", "Firmware": "ファームウェア", "First seen": "初回検出",
    "First-run setup": "初期設定", "Guideline categories": "ガイドラインの分類", "History": "履歴",
    "Hosts": "ホスト", "Interfaces": "インターフェース", "Jobs": "ジョブ", "Kind": "種類",
    "Last probe": "前回の診断", "Last seen": "最終検出", "Leakage surveys (3-3)": "電波漏洩の測定（3-③）",
    "List the facility's SSIDs in the configuration first.": "先に設定ファイルに施設のSSIDを登録してください。",
    "Load": "負荷", "Log in": "ログイン", "Log out": "ログアウト",
    "Manifest SHA-256": "マニフェスト SHA-256", "Measure": "対策", "Measures": "対策一覧",
    "Memory": "メモリ", "Model": "型番", "Name": "名称", "Next runs": "次回の実行",
    "No account exists yet. Enter the one-time setup code that the appliance printed on its "
    "console at first boot, then choose the administrator's name and password.":
        "まだアカウントがありません。初回起動時に本機のコンソールに表示された初期設定コードを入力し、"
        "管理者の名前とパスワードを決めてください。",
    "No export yet. The agent writes one every month.": "エクスポートはまだありません。毎月自動で作成されます。",
    "Note": "メモ", "Nothing changed in the last 24 hours.": "過去24時間に変化はありません。",
    "Open findings": "未解決の検出事項", "Open ports": "開いているポート", "Overview": "概要",
    "Password (12 characters or more)": "パスワード（12文字以上）",
    "Password again": "パスワード（確認）", "Password": "パスワード", "Period": "期間",
    "Probe scope": "診断の対象範囲", "Probes": "機器診断", "Refused": "対象外として拒否",
    "Resolve": "解決済みにする", "Resources": "リソース",
    "Rogue, look-alike and misconfigured access points": "不審・なりすまし・設定不備のアクセスポイント",
    "Rule": "ルール", "Run now": "今すぐ実行", "Running…": "実行中…", "Scope": "対象範囲",
    "Security": "暗号化", "Send a test alert": "テスト通知を送る",
    "Sensors and probes": "センサーと診断", "Settings": "設定", "Setup code": "初期設定コード",
    "Severity": "重大度", "Signal": "電波強度", "Start": "開始", "Started": "開始日時",
    "State": "状態", "Status": "状態", "Stop running surveys": "実行中の測定を止める",
    "Subject": "対象", "System": "システム", "Temperature": "温度",
    "That setup code is not right.": "初期設定コードが違います。",
    "The agent has not reported yet.": "エージェントからの報告はまだありません。",
    "The code is also in a file only the appliance's administrator can read:":
        "コードは本機の管理者だけが読めるファイルにもあります：",
    "The probe scope is empty: the appliance only listens. Add the facility's networks to "
    "probe.scope to enable device checks.":
        "診断の対象範囲が空のため、本機は受信のみ行っています。機器診断を行うには probe.scope に"
        "施設のネットワークを登録してください。",
    "The two passwords differ.": "2つのパスワードが一致しません。",
    "These come from the configuration file; change them there and restart.":
        "これらは設定ファイルの内容です。変更は設定ファイルで行い、再起動してください。",
    "This facility": "この施設", "Time": "日時",
    "Too many failed attempts. This account is locked for a while; try again later.":
        "失敗が続いたため、このアカウントはしばらくロックされています。時間をおいて再度お試しください。",
    "Too many wrong codes. Wait a few minutes.": "誤ったコードが続きました。数分待ってください。",
    "User name": "ユーザー名", "Users": "ユーザー", "Vendor": "メーカー",
    "Vulnerability assessment": "脆弱性診断", "What changed since yesterday": "昨日からの変化",
    "What to do": "対処方法", "Why": "理由", "Wi-Fi": "Wi-Fi",
    "Wrong user name or password.": "ユーザー名またはパスワードが違います。",
    "any severity": "すべての重大度", "confidence": "確度", "delivered": "配信済み",
    "devices": "台", "facility": "施設", "findings": "件", "frames": "フレーム数",
    "hosts": "台", "inside": "屋内", "no": "いいえ", "not acknowledged": "未確認",
    "outside": "屋外", "running": "実行中", "yes": "はい",
    # dynamic words: roles, severities, statuses, changes, verdicts, levels, kinds, classes
    "admin": "管理者", "viewer": "閲覧者", "inspector": "検査員",
    "critical": "緊急", "high": "重要", "medium": "警告", "low": "注意", "info": "情報",
    "active": "未解決（すべて）", "open": "未対応", "acknowledged": "確認済み",
    "reopened": "再発", "resolved": "解決済み", "new": "新規", "updated": "更新",
    "escalated": "重大度上昇", "pass": "適合", "fail": "不適合", "warn": "要注意",
    "unknown": "データなし", "expired": "期限切れ", "not_applicable": "対象外",
    "basic": "基本", "advanced": "応用", "auto": "自動", "attest": "申告",
    "router": "ルーター", "ap": "アクセスポイント", "printer": "プリンター", "camera": "カメラ",
    "nas": "NAS", "pc": "PC", "other": "その他", "guest": "ゲスト", "business": "業務",
    "current": "最新", "outdated": "旧版", "unsafe": "要更新（脆弱）", "component": "部品のみ判定",
    "user-created": "ユーザーを作成しました。",
    "not one of ours": "登録外（なりすましの疑い）",
    "No signal readings of the facility's access points in the last 24 hours.":
        "過去24時間、施設のアクセスポイントの電波を受信していません。",
    "where, e.g. street side, 2F window": "測定場所（例：道路側・2階窓際）",
    "Facility, probes and alerts": "施設・診断・通知の設定",
    "Facility SSIDs, one per line: name | guest, business or other | BSSIDs":
        "施設のSSID（1行に1つ：名前 | guest・business・other | BSSID）",
    "Probe scope, one CIDR or host per line (empty: passive only)":
        "診断の対象範囲（1行に1つのCIDRまたはホスト。空なら受信のみ）",
    "Web sites to check (2-3), one URL per line": "確認するWebサイト（2-③、1行に1つのURL）",
    "Port": "ポート", "Topic prefix": "トピックの接頭辞", "Dashboard address in alerts": "通知に載せるダッシュボードのアドレス",
    "The broker password stays in its file (mqtt.password_file).":
        "ブローカーのパスワードはファイル（mqtt.password_file）で管理します。",
    "Save": "保存",
    "settings-saved": "保存しました。ダッシュボードには反映済みで、エージェントにも数秒以内に反映されます。",
    "Approved services (4-3)": "承認済みのサービス（4-③）", "approved": "件承認済み",
    "Approve what is open now": "現在開いているものを承認",
    "note (optional)": "メモ（任意）", "search": "検索", "Signing key": "署名鍵",
    "Inspectors pin this public key and check each export with officeguard verify-export --public-key.":
        "検査事業者はこの公開鍵を控え、officeguard verify-export --public-key で各エクスポートを検証できます。",
    "Access points already seen — tick the facility's own:":
        "受信済みのアクセスポイント（施設のものに印を付けてください）：",
    "Facility name (shown on the dashboard and the inspector's report)":
        "施設名（ダッシュボードと検査用レポートに表示）",
    "The facility": "施設",
    "Wi-Fi verdicts need the facility's own SSIDs: without them every access point is a neighbour's.":
        "Wi-Fiの判定には施設のSSIDの登録が必要です。登録がないと、すべてのアクセスポイントを近隣のものとして扱います。",
    "Saved; the agent has not applied these settings yet (it checks every few seconds).":
        "保存済みです。エージェントへの反映待ちです（数秒ごとに確認します）。",
    "Saved settings are kept in the data directory and win over the configuration file; the dashboard applies them at once and the agent within seconds, without a restart.":
        "保存した設定はデータディレクトリに保管され、設定ファイルより優先されます。再起動は不要で、ダッシュボードには即時、エージェントには数秒以内に反映されます。",
    "What to do first": "まず対処すること",
    "scan": "ポート・機器の診断", "isolation": "ゲストと業務の分離の確認", "website": "Webサイトの確認",
    "CPU temperature": "CPU温度", "throttled": "性能制限中", "Disk free": "ディスクの空き",
    "Captured / dropped packets": "受信 / 取りこぼしパケット数",
    "Written to the SD card": "SDカードへの書き込み量", "Clock": "時刻", "set": "設定済み",
    "not set (no NTP yet)": "未設定（NTP未同期）",
    "Signal readings from {a} to {b}.": "{a} から {b} までの電波強度です。",
    "Nothing urgent: no critical or high finding is open and no measure fails.":
        "急ぎの対処はありません（緊急・重要の未解決の検出事項も、不適合の対策もありません）。",
    "Open findings by day": "未解決の検出事項（日ごと）",
    "See the measure's page for what the guideline asks.": "ガイドラインの求める内容は対策のページを参照してください。",
    "lan": "LAN監視", "wifi": "Wi-Fi監視", "mqtt": "通知（MQTT）", "probe": "機器診断",
    "OPEN": "暗号化なし", "WEP": "WEP（脆弱）", "WPA": "WPA（脆弱）", "WPA2": "WPA2", "WPA3": "WPA3",
    "WPA2/WPA3": "WPA2/WPA3", "OWE": "OWE", "required": "必須", "capable": "対応", "none": "なし",
    "assisted": "半自動（確認が必要）",
    "The signing key is made with the first export (or at first boot).":
        "署名鍵は最初のエクスポート時（または初回起動時）に作成されます。", "alert-delivered": "テスト通知が配信されました。",
    # rental PCs and operating systems (#18)
    "Rental PCs": "レンタルPC", "Operating system": "OS", "Supported until": "サポート期限",
    "Only the PCs listed here, and the facility's own devices, are examined for their operating system (5-1). Guests' own devices are never examined.":
        "ここに登録したPCと施設の機器だけをOSの確認（5-①）の対象にします。利用者の持ち込み端末は調べません。",
    "from": "取得元", "not announced": "未発表", "edition unknown: latest end date among editions":
        "エディション不明: 各エディションで最も遅い終了日で判定", "catalog of": "サポート期限データ",
    "not identified yet": "未識別", "configuration file": "設定ファイル", "Remove": "削除",
    "Register a rental PC": "レンタルPCを登録", "edition unknown": "エディション不明",
    "ESU until (YYYY-MM-DD)": "ESU期限（YYYY-MM-DD）", "ESU evidence": "ESU加入の根拠",
    "Register": "登録", "past": "サポート終了", "soon": "終了間近", "supported": "サポート中",
    "esu": "拡張サポート（ESU）中", "passive hint": "受動的な推定",
    # user management and display safety (#14)
    "disabled": "無効", "New password": "新しいパスワード", "Set password": "パスワードを設定",
    "End sessions": "ログインを終了", "Enable": "有効にする", "Disable": "無効にする",
    "Your password": "自分のパスワード", "Current password": "現在のパスワード",
    "New password again": "新しいパスワード（確認）", "Change password": "パスワードを変更",
    "password-changed": "パスワードを変更しました。ほかのログインは終了しました。",
    "sessions-ended": "ログインを終了しました。", "user-disabled": "ユーザーを無効にしました。",
    "user-enabled": "ユーザーを有効にしました。", "mismatch": "新しいパスワードが一致しません。",
    "malformed SSID": "不正なSSID（33バイト以上）",
    # the dashboard asks, the agent acts (issue #15)
    "Waiting for the agent": "エージェントの実行待ち", "The agent is running it": "エージェントが実行中",
    "Done": "完了", "Probe now": "今すぐ診断", "Test alert": "テスト通知",
    "Survey start": "調査の開始", "Survey stop": "調査の停止", "Export now": "今すぐエクスポート",
    "Duration (s)": "所要時間（秒）",
    "Waited for the cycle in flight (s)": "実行中の診断の終了待ち（秒）",
    "Delivered": "配信日時", "Survey": "調査", "Label": "名前", "Surveys stopped": "停止した調査",
    "Folder": "フォルダー", "Error": "エラー", "Requested by": "依頼者",
    "The agent runs it; reload the page to see the outcome.":
        "エージェントが実行します。結果はページを再読み込みすると表示されます。",
    "Run export now": "今すぐエクスポート", "YYYY-MM (default: last month)": "YYYY-MM（空欄：先月）",
    "alert-requested": "テスト通知の送信をエージェントに依頼しました。結果は下に表示されます。",
}


def main() -> None:
    from pathlib import Path

    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    here = Path(__file__).resolve().parent
    for lang, table in (("ja", JA), ("en", {})):
        cat = Catalog(locale=lang, project="OfficeGuard", version="0.2",
                      charset="utf-8")
        for msgid in sorted(JA):
            cat.add(msgid, table.get(msgid, ""))
        out = here / lang / "LC_MESSAGES" / "messages.po"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as f:
            write_po(f, cat, width=100, sort_output=True)


if __name__ == "__main__":
    main()
