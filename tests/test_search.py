"""Full-text search (#15): `officeguard search` and the dashboard's search box find findings,
access points, devices and stations by SSID, MAC, IP and free text, in a store filled by the
real `officeguard ingest` (a Wi-Fi capture with an open twin of the facility SSID and hostile
SSIDs, an ARP capture with a poisoned gateway). The index is kept current by triggers, built for
databases of the previous version, and hostile text is data, never syntax."""

from __future__ import annotations

import json
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.capture import write_pcap
from appliance.schema import MIGRATIONS
from appliance.store import Store, migrate
from appliance.store import aps as aps_table
from appliance.store import search as fts
from tests import arpgen
from tests import wifigen as g
from tests.conftest import OFFICEGUARD, ROOT
from tests.webutil import add_user, client, config_for

HOSTILE_SSIDS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
TWIN = "02:00:5e:00:53:02"          # the open twin of OfficeGuest
POISONER = "02:00:5e:00:53:66"      # claims the gateway's address
GATEWAY = "192.0.2.1"
HOSTILE_QUERIES = [
    '"', '""', "'", "AND (", "OR", "NOT x", "*", "a*", "NEAR(a b)", "NEAR", "title_en:x",
    "^x", "-x", "+", "(", ")", "{a b}", "' OR 1=1 --", "'; DROP TABLE findings; --",
    "<script>alert(9)</script>", "%", "_", "\\", "\\%", "🙂", "ｱ", "a" * 200, "x y z",
]


def _wifi(path: Path) -> None:
    aps = [("02:00:5e:00:53:01", b"OfficeGuest", "WPA2"),
           (TWIN, b"OfficeGuest", "OPEN"),
           ("02:00:5e:00:53:03", HOSTILE_SSIDS[0].encode(), "WPA2"),
           ("02:00:5e:00:53:04", HOSTILE_SSIDS[1].encode(), "WPA2")]
    t = 1_790_000_000.0
    frames = [(t + i * 0.1, g.radiotap(g.beacon(b, s, security=sec), signal=-40))
              for i in range(20) for b, s, sec in aps]
    write_pcap(path, 127, frames)


def _lan(path: Path) -> None:
    g_mac, a_mac = "02:00:5e:00:53:01", "00:00:5e:00:53:0a"
    frames = [
        (1000.0, arpgen.ether_arp(1, a_mac, "192.0.2.10", tip=GATEWAY)),
        (1000.1, arpgen.ether_arp(2, g_mac, GATEWAY, a_mac, "192.0.2.10", eth_dst=a_mac)),
        (1002.0, arpgen.ether_arp(2, POISONER, GATEWAY, "ff:ff:ff:ff:ff:ff", GATEWAY)),
        (1003.0, arpgen.ether_arp(2, POISONER, GATEWAY, "ff:ff:ff:ff:ff:ff", GATEWAY)),
        (1003.5, arpgen.ether_arp(2, g_mac, GATEWAY, a_mac, "192.0.2.10", eth_dst=a_mac)),
    ]
    write_pcap(path, 1, frames)


def run(*args: str | bytes, db: Path | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    cmd: list[str | bytes] = [OFFICEGUARD, *args]
    if db is not None:  # right after the command: before any `--`
        cmd[2:2] = ["--db", str(db)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       errors="replace")
    assert "Traceback" not in r.stderr, r.stderr
    return r


def search_json(db: Path, *text: str) -> list[dict[str, Any]]:
    r = run("search", *text, "--json", db=db)
    assert r.returncode == 0, r.stderr
    hits: list[dict[str, Any]] = json.loads(r.stdout)["hits"]
    return hits


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("search")
    cfg = d / "c.toml"
    cfg.write_text('[networks]\nbusiness = ["192.0.2.0/24"]\ngateways = ["192.0.2.1"]\n'
                   '[[facility.ssids]]\nname = "OfficeGuest"\nbssids = ["02:00:5e:00:53:01"]\n'
                   'role = "guest"\n')
    db = d / "data" / "officeguard.db"
    db.parent.mkdir()
    _wifi(d / "wifi.pcap")
    _lan(d / "lan.pcap")
    r = run("ingest", str(d / "wifi.pcap"), str(d / "lan.pcap"), "--config", str(cfg), db=db)
    assert r.returncode == 0, r.stderr
    findings = json.loads(run("findings", "--json", db=db).stdout)["findings"]
    return {"dir": d, "db": db, "findings": findings}


def _finding(filled: dict[str, Any], rule: str, subject: str) -> dict[str, Any]:
    [f] = [f for f in filled["findings"] if f["rule"] == rule and f["subject"] == subject]
    return f


def _ids(hits: list[dict[str, Any]], kind: str = "finding") -> set[str]:
    return {h["id"] for h in hits if h["kind"] == kind}


# -- officeguard search ---------------------------------------------------------------------

def test_cli_finds_a_finding_by_ssid_mac_ip_and_text(filled: dict[str, Any]) -> None:
    db = filled["db"]
    twin = _finding(filled, "wifi.evil_twin", TWIN) if any(
        f["rule"] == "wifi.evil_twin" for f in filled["findings"]) else [
        f for f in filled["findings"] if f["subject"] == TWIN][0]
    poison = _finding(filled, "lan.arp_poisoning", GATEWAY)
    # by SSID: the finding about the open twin, and the access points of that name
    hits = search_json(db, "OfficeGuest")
    assert str(twin["id"]) in _ids(hits)
    assert {TWIN, "02:00:5e:00:53:01"} <= _ids(hits, "access_point")
    # by MAC, as stored, in capitals with dashes, or bare
    for mac in (TWIN, TWIN.upper().replace(":", "-"), TWIN.replace(":", "")):
        assert str(twin["id"]) in _ids(search_json(db, mac)), mac
    # the poisoner's MAC finds the station and, through it, the poisoning finding
    hits = search_json(db, POISONER)
    assert f"{GATEWAY} {POISONER}" in _ids(hits, "station")
    assert str(poison["id"]) in _ids(hits)
    # by IP (the IP's dots and the MAC's colons are data, not syntax)
    hits = search_json(db, GATEWAY)
    assert str(poison["id"]) in _ids(hits)
    assert all(h["link"] == f"/findings/{h['id']}" for h in hits if h["kind"] == "finding")
    # by free text: part of the Japanese title (no spaces to split on) and the English title
    part = poison["title_ja"][:4]
    assert str(poison["id"]) in _ids(search_json(db, part)), part
    word = max(poison["title_en"].split(), key=len)
    assert str(poison["id"]) in _ids(search_json(db, word.lower())), word
    # two words: both must match
    assert str(poison["id"]) in _ids(search_json(db, word, GATEWAY))
    assert str(poison["id"]) not in _ids(search_json(db, word, TWIN))


def test_cli_prints_text_and_says_when_nothing_matches(filled: dict[str, Any]) -> None:
    r = run("search", "OfficeGuest", db=filled["db"])
    assert r.returncode == 0 and "finding" in r.stdout and TWIN in r.stdout
    assert "/findings/" in r.stdout and "/wifi" in r.stdout
    r = run("search", "no-such-thing-anywhere", db=filled["db"])
    assert r.returncode == 0 and r.stdout.strip() == "no matches"
    r = run("search", "OfficeGuest", "--limit", "1", "--json", db=filled["db"])
    assert len(json.loads(r.stdout)["hits"]) == 1


def test_cli_hostile_queries_are_data(filled: dict[str, Any]) -> None:
    db = filled["db"]
    before = (db.stat().st_size, len(filled["findings"]))
    for q in HOSTILE_QUERIES:
        r = run("search", "--json", "--", q, db=db)
        assert r.returncode in (0, 2), (q, r.returncode, r.stderr)
        if r.returncode == 0:
            assert isinstance(json.loads(r.stdout)["hits"], list)
        else:
            assert r.stderr.startswith("officeguard: "), (q, r.stderr)
    # a stored hostile SSID is found by its own text, as text
    hits = search_json(db, "onerror=alert")
    assert "02:00:5e:00:53:04" in _ids(hits, "access_point")
    after = json.loads(run("findings", "--json", db=db).stdout)["findings"]
    assert len(after) == before[1]  # DROP TABLE was text


@pytest.mark.parametrize(("args", "says"), [
    ([""], "type a word"), (["   "], "type a word"), (["a\x01b"], "control characters"),
    (["x" * 201], "too long"), ([b"\xff\xfe bad"], "not valid UTF-8"),
    (["a b c d e f g h i"], None), (["x", "--limit", "0"], "must be 1 to"),
])
def test_cli_bad_text_is_a_usage_error(filled: dict[str, Any], args: list[str | bytes],
                                       says: str | None) -> None:
    words = args[0].split() if isinstance(args[0], str) and says is None else args
    r = run("search", *words, db=filled["db"])
    assert r.returncode == 2, (args, r.stdout)
    assert says is None or says in r.stderr, r.stderr


def test_cli_without_a_database_is_a_clear_error(tmp_path: Path) -> None:
    r = run("search", "OfficeGuest", db=tmp_path / "none.db")
    assert r.returncode == 1 and "no database yet" in r.stderr


# -- the index ------------------------------------------------------------------------------

def test_index_follows_inserts_updates_and_deletes(tmp_path: Path) -> None:
    store = Store(tmp_path / "og.db")
    try:
        now = time.time()
        store.write(lambda c: c.execute(
            "INSERT INTO devices (ip, mac, vendor, model, first_seen, last_seen) "
            "VALUES ('198.51.100.7', '02:00:5e:00:53:77', 'Acme', 'Cam 9', ?, ?)", (now, now)))
        store.write(lambda c: c.execute(
            "INSERT INTO passive_hints (mac, source, hostname, first_seen, last_seen) "
            "VALUES ('02:00:5e:00:53:77', 'dhcp', '受付のプリンタ', ?, ?)", (now, now)))

        def find(q: str) -> list[fts.Hit]:
            return store.read_with(lambda c: fts.search(c, q))

        assert [h.kind for h in find("Cam 9")] == [fts.HitKind.DEVICE]
        assert [h.id for h in find("プリンタ")] == ["02:00:5e:00:53:77 dhcp"]
        assert find("プリンタ")[0].field == "hostname"
        store.write(lambda c: c.execute("UPDATE devices SET model = 'Doorbell' WHERE ip = ?",
                                        ("198.51.100.7",)))
        assert find("Cam 9") == [] and [h.id for h in find("doorbell")] == ["198.51.100.7"]
        store.write(lambda c: c.execute("DELETE FROM devices"))
        assert find("doorbell") == []
        # the FTS tables are consistent with their content (FTS5's own check)
        for t in fts.INDEXED:
            store.write(lambda c, t=t: c.execute(
                f"INSERT INTO {t}_fts ({t}_fts) VALUES ('integrity-check')"))
    finally:
        store.close()


def test_the_index_is_the_one_sqlite_utils_makes(tmp_path: Path) -> None:
    """The store builds the index with plain SQL; sqlite-utils, asked to make the same index on
    the same table (`enable_fts(replace=True)`), finds nothing to change, and its search and
    `detect_fts` see it. A new database's writer never loads the library (about 8 MB)."""
    import sqlite_utils

    db = tmp_path / "og.db"
    code = ("import sys; from appliance.store import Store; s = Store(sys.argv[1]); s.close(); "
            "print('sqlite_utils' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
    conn = sqlite3.connect(db)
    try:
        before = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE '%_fts'"))
        assert sorted(before) == sorted(f"{t}_fts" for t in fts.INDEXED)
        conn.execute("INSERT INTO stations (ip, mac, vendor, first_seen, last_seen) VALUES "
                     "('198.51.100.9', '02:00:5e:00:53:09', 'Acme', 1, 1)")
        conn.commit()
        sdb = sqlite_utils.Database(conn)
        for table, cols in fts.INDEXED.items():
            sdb.table(table).enable_fts(list(cols), create_triggers=True,
                                        tokenize=fts.TOKENIZE, replace=True)
            assert sdb.table(table).detect_fts() == f"{table}_fts"
        after = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE '%_fts'"))
        assert after == before  # nothing recreated: the same statements
        assert [r["mac"] for r in sdb.table("stations").search('"acme"')] == [
            "02:00:5e:00:53:09"]
    finally:
        conn.close()


def _previous_version(path: Path) -> None:
    """A database as the previous version left it: every migration, no search index."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL) "
                 "STRICT")
    for name, sql in MIGRATIONS:
        conn.executescript(f"BEGIN;\n{sql}\nINSERT INTO _migrations VALUES ('{name}', 0);\n"
                           "COMMIT;")
    conn.execute("INSERT INTO access_points (bssid, ssid, ssid_hex, hidden, security, pmf, "
                 "privacy, first_seen, last_seen) VALUES (?, 'OldCafe', '', 0, 'OPEN', "
                 "'none', 0, 1, 1)", (TWIN,))
    conn.execute("INSERT INTO findings (rule, measure, severity, subject, status, title_ja, "
                 "title_en, first_seen, last_seen, updated_at) VALUES ('wifi.open', '3-3', "
                 "'high', ?, 'open', '暗号化なし', 'Open network', 1, 1, 1)", (TWIN,))
    conn.close()


def test_a_database_of_the_previous_version_gets_the_index(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    _previous_version(old)
    conn = sqlite3.connect(old)
    assert fts.missing_indexes(conn) == list(fts.INDEXED)
    conn.close()
    store = Store(old)  # what the agent and the dashboard of this version do
    try:
        hits = store.read_with(lambda c: fts.search(c, "OldCafe"))
        assert [h.kind for h in hits] == [fts.HitKind.FINDING, fts.HitKind.ACCESS_POINT]
        assert store.read_with(fts.missing_indexes) == []
    finally:
        store.close()
    assert migrate(old) == []  # idempotent: nothing to do the second time
    # `officeguard search` on an old database nobody of this version opened yet
    old2 = tmp_path / "old2.db"
    _previous_version(old2)
    assert str(1) in _ids(search_json(old2, "Open network"))


def _copy(src: Path, dst: Path) -> None:
    """A consistent copy (the WAL included), as SQLite's backup makes it."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


# -- the dashboard ------------------------------------------------------------------------

@pytest.fixture
def dash(filled: dict[str, Any], tmp_path: Path) -> Any:
    cfg = config_for(tmp_path)
    cfg.data_dir.mkdir(parents=True)
    _copy(filled["db"], cfg.db_path)
    add_user(cfg)
    return cfg


def test_dashboard_search_finds_by_ssid_mac_ip_and_text(filled: dict[str, Any], dash: Any
                                                        ) -> None:
    twin = [f for f in filled["findings"] if f["subject"] == TWIN][0]
    poison = _finding(filled, "lan.arp_poisoning", GATEWAY)
    with client(dash) as anon:
        r = anon.get("/search", params={"q": "OfficeGuest"})
        assert r.status_code in (303, 307) and "/login" in r.headers["location"]
    with client(dash, login="manager") as c:
        home = c.get("/")
        assert 'id="search-form"' in home.text and 'action="/search"' in home.text
        for q, fid in (("OfficeGuest", twin["id"]), (TWIN.upper(), twin["id"]),
                       (GATEWAY, poison["id"]), (POISONER, poison["id"]),
                       (poison["title_ja"][:4], poison["id"])):
            r = c.get("/search", params={"q": q})
            assert r.status_code == 200, (q, r.text)
            assert f'href="/findings/{fid}"' in r.text, q
        r = c.get("/search", params={"q": "OfficeGuest"})
        assert 'href="/wifi"' in r.text
        r = c.get("/search", params={"q": "nothing-like-this"})
        assert r.status_code == 200 and 'id="search-none"' in r.text
        assert c.get("/search").status_code == 200  # the empty form


def test_dashboard_search_speaks_japanese_and_english(dash: Any) -> None:
    with client(dash, login="manager") as c:
        c.cookies.set("lang", "ja")
        r = c.get("/search", params={"q": "OfficeGuest"})
        assert "<h1>検索</h1>" in r.text and "アクセスポイント" in r.text
        c.cookies.set("lang", "en")
        r = c.get("/search", params={"q": "OfficeGuest"})
        assert "<h1>Search</h1>" in r.text and "Access point" in r.text
        r = c.get("/search", params={"q": "a\x01"})
        assert r.status_code == 400 and "control characters" in r.text
        c.cookies.set("lang", "ja")
        r = c.get("/search", params={"q": "a\x01"})
        assert r.status_code == 400 and "制御文字" in r.text


def test_dashboard_hostile_queries_and_ssids_come_back_as_text(dash: Any) -> None:
    with client(dash, login="manager") as c:
        for q in HOSTILE_QUERIES:
            r = c.get("/search", params={"q": q})
            assert r.status_code in (200, 400), (q, r.status_code)
            assert "<script>alert(9)" not in r.text
        # raw bytes that are not UTF-8 in the query string
        r = c.get("/search?q=%FF%FE%80")
        assert r.status_code in (200, 400)
        r = c.get("/search", params={"q": "<script>alert(9)</script>"})
        assert "&lt;script&gt;alert(9)&lt;/script&gt;" in r.text
        # the hostile SSIDs stored by the sensor come back escaped
        for q in ("script", "onerror"):
            r = c.get("/search", params={"q": q})
            assert r.status_code == 200 and "<script>alert(1)" not in r.text
            assert "<img src=x" not in r.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in c.get(
            "/search", params={"q": "script"}).text
        assert "&lt;img src=x onerror=alert(1)&gt;" in c.get(
            "/search", params={"q": "onerror"}).text


# -- docs/database.md: the sqlite-utils commands run on a copy ------------------------------

def test_documented_sqlite_utils_commands_run_on_a_copy(filled: dict[str, Any],
                                                        tmp_path: Path) -> None:
    text = (ROOT / "docs" / "database.md").read_text(encoding="utf-8")
    commands = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("sqlite-utils ")]
    assert len(commands) >= 6, commands
    live = "/var/lib/officeguard/officeguard.db"
    copy = "/tmp/officeguard-copy.db"
    assert commands[0].startswith("sqlite-utils query " + live)  # the copy is made first
    exe = str(Path(OFFICEGUARD).with_name("sqlite-utils"))
    src, dst = tmp_path / "live.db", tmp_path / "copy.db"
    _copy(filled["db"], src)
    outputs = []
    for cmd in commands:
        argv = shlex.split(cmd.replace(live, str(src)).replace(copy, str(dst)))
        assert str(src) not in argv[2:] or cmd is commands[0], "only the copy is read"
        r = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (cmd, r.stderr)
        outputs.append(r.stdout)
    assert dst.exists()
    joined = "\n".join(outputs)
    assert "findings_fts" in joined and "OfficeGuest" in joined and TWIN in joined
    assert any(o.startswith("id,") or o.startswith("rule,") for o in outputs)  # --csv


def _ap(bssid: str, ssid: str, vendor: str | None, beacons: int) -> tuple[Any, ...]:
    row: dict[str, Any] = dict.fromkeys(aps_table.COLUMNS)
    row.update(bssid=bssid, ssid=ssid, ssid_hex=ssid.encode().hex(), hidden=0,
               security="WPA2", pmf="none", privacy=1, vendor=vendor, randomized=0,
               akm="[2]", pairwise="[4]", phy="[]", profiles="[]", channels_seen="[]",
               rssi_sum=0, rssi_n=0, beacons=beacons, probe_responses=0, malformed_frames=0,
               first_seen=1.0, last_seen=2.0)
    return tuple(row[c] for c in aps_table.COLUMNS)


def test_ap_writes_in_one_statement_keep_the_index(tmp_path: Path) -> None:
    """`aps.upsert` writes a batch with INSERT ... SELECT (the index's triggers inside one
    statement per STAGE_ROWS rows): new APs are found, a renamed AP by its new name only,
    counters add up, rows keep the batch's order, and FTS5's own check finds the index
    consistent."""
    n = aps_table.STAGE_ROWS * 2 + 100  # three statements

    def mac(i: int) -> str:
        return f"02:00:5e:00:{i >> 8:02x}:{i & 0xFF:02x}"

    store = Store(tmp_path / "og.db")
    try:
        first = [_ap(mac(i), f"Cafe-{i:04d}", "Acme", 10) for i in range(n)]
        store.write(lambda c: aps_table.upsert(c, first))
        again = [_ap(mac(7), "Lobby-7", "Acme", 5),  # renamed
                 _ap(mac(8), "Cafe-0008", "Other Co", 5),  # another vendor
                 _ap(mac(9), "Cafe-0009", "Acme", 5),  # counters only
                 _ap("02:00:5e:00:55:01", "New-1", None, 1)]
        store.write(lambda c: aps_table.upsert(c, again))

        def find(q: str) -> list[str]:
            return [h.id for h in store.read_with(lambda c: fts.search(c, q, limit=500))
                    if h.kind == fts.HitKind.ACCESS_POINT]

        assert find("Lobby-7") == [mac(7)] and find("Cafe-0007") == []
        assert mac(8) in find("Other Co")
        assert find("New-1") == ["02:00:5e:00:55:01"]
        assert find(f"Cafe-{n - 1:04d}") == [mac(n - 1)]  # from the last statement
        assert find("00:02:2a") == [mac(0x22A)]  # part of a MAC
        rows = store.read_with(lambda c: c.execute(
            "SELECT bssid, beacons FROM access_points ORDER BY rowid").fetchall())
        assert [b for b, _n in rows] == [r[0] for r in first] + ["02:00:5e:00:55:01"]
        counts = dict(rows)
        assert counts[mac(9)] == 15 and counts[mac(10)] == 10
        store.write(lambda c: c.execute(
            "INSERT INTO access_points_fts (access_points_fts) VALUES ('integrity-check')"))
        assert store.write(lambda c: c.execute(  # the staging table is left empty
            "SELECT count(*) FROM temp._ap_rows").fetchone()[0]) == 0
    finally:
        store.close()
