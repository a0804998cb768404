"""Full-text search over findings, access points, devices, stations and host names (#15).

The index is sqlite-utils' FTS5 set-up (`Table.enable_fts(..., create_triggers=True)`): one
`<table>_fts` external-content table per searched table, kept current by its insert, update and
delete triggers, so every writer (the agent's batches, the probe recorder, the pruning) updates
it inside its own transaction without knowing the index exists. The tokenizer is SQLite's
`trigram`: any three characters of a value match, so a Japanese word without spaces, part of a
MAC (`5e:00:53`) or of an IP (`0.2.10`) is found; a term shorter than three characters is matched
with LIKE instead (a scan of the searched columns: the appliance keeps weeks, not years).

`ensure_index` runs after the migrations, every time a Store opens the file (new databases and
databases of earlier versions alike); it checks the schema and creates what is missing with plain
SQL (the statements sqlite-utils' `enable_fts` runs), so no writer carries the library; searching
goes through sqlite-utils' `Table.search`.

The search text is data, never FTS syntax: each term is quoted as an FTS5 string, LIKE patterns
are escaped, and text that is not UTF-8, holds control characters or is empty is refused with a
`SearchError` whose message says what to type instead.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class SearchError(ValueError):
    """The search text cannot be searched; the message says why."""


class HitKind(StrEnum):
    FINDING = "finding"
    ACCESS_POINT = "access_point"
    DEVICE = "device"
    STATION = "station"
    HOST = "host"


# table -> the columns searched (the order is the order a snippet is looked for in)
INDEXED: dict[str, tuple[str, ...]] = {
    "findings": ("subject", "title_ja", "title_en", "measure", "rule", "evidence"),
    "access_points": ("ssid", "bssid", "vendor"),
    "devices": ("ip", "mac", "vendor", "model", "firmware"),
    "stations": ("ip", "mac", "vendor"),
    "passive_hints": ("hostname", "mac", "ip"),
}
TOKENIZE = "trigram"
MAX_TEXT = 200
MAX_TERMS = 8
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_MAC = re.compile(r"^(?:[0-9a-f]{2}[-:.]){5}[0-9a-f]{2}$|^[0-9a-f]{12}$", re.I)


@dataclass(frozen=True)
class Hit:
    """One thing found: what it is, which row, how to name it, what matched, where it lives."""

    kind: HitKind
    id: str
    label: str          # English (or language-neutral) name
    label_ja: str       # Japanese name (the same as label when there is no translation)
    field: str          # the column the text was found in
    snippet: str        # a short part of that column around the match
    link: str           # the dashboard page of the hit
    severity: str = ""  # findings only
    status: str = ""    # findings only

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"kind": str(self.kind)}


# -- the index -------------------------------------------------------------------------------

def _has_index(conn: sqlite3.Connection, table: str) -> bool:
    names = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE name IN (?, ?, ?, ?)",
        (f"{table}_fts", f"{table}_ai", f"{table}_ad", f"{table}_au"))}
    if len(names) != 4:
        return False
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table}_fts)")]  # fixed names
    au = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (f"{table}_au",)
                      ).fetchone()
    return tuple(cols) == INDEXED[table] and au is not None and au[0] == _update_trigger(table)


def _update_trigger(table: str) -> str:
    """sqlite-utils' update trigger, fired only when a searched value changes: the agent's
    flush updates every AP and station it heard (counters, last_seen), and re-indexing each
    of them would cost the writer about 100 µs a row (bench/bench_search.py)."""
    cols = INDEXED[table]
    changed = " OR ".join(f"old.[{c}] IS NOT new.[{c}]" for c in cols)
    names = ", ".join(f"[{c}]" for c in cols)
    return (f"CREATE TRIGGER [{table}_au] AFTER UPDATE ON [{table}] WHEN {changed} BEGIN\n"  # noqa: S608 - fixed names
            f"  INSERT INTO [{table}_fts] ([{table}_fts], rowid, {names}) VALUES('delete', "
            f"old.rowid, {', '.join(f'old.[{c}]' for c in cols)});\n"
            f"  INSERT INTO [{table}_fts] (rowid, {names}) VALUES (new.rowid, "
            f"{', '.join(f'new.[{c}]' for c in cols)});\nEND")


def missing_indexes(conn: sqlite3.Connection) -> list[str]:
    """The searched tables whose index or triggers are missing or out of date."""
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return [t for t in INDEXED if t in present and not _has_index(conn, t)]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _index_sql(table: str) -> list[str]:
    """The statements of one table's index, as sqlite-utils' `enable_fts(columns,
    create_triggers=True, tokenize="trigram")` writes them (so `sqlite-utils search` and
    `Table.search` find it), with the update trigger narrowed (`_update_trigger`)."""
    cols = INDEXED[table]
    names = ", ".join(_q(c) for c in cols)
    new = ", ".join("new." + _q(c) for c in cols)
    old = ", ".join("old." + _q(c) for c in cols)
    fts, tab = _q(f"{table}_fts"), _q(table)
    return [  # all names are the fixed ones of INDEXED, quoted
        f"CREATE VIRTUAL TABLE {fts} USING FTS5 (\n    {names},\n    tokenize='{TOKENIZE}',\n"
        f"    content={tab}\n)",
        f"INSERT INTO {fts} (rowid, {names})\n    SELECT rowid, {names} FROM {tab};",  # noqa: S608
        f"CREATE TRIGGER {_q(table + '_ai')} AFTER INSERT ON {tab} BEGIN\n"  # noqa: S608
        f"  INSERT INTO {fts} (rowid, {names}) VALUES (new.rowid, {new});\nEND",
        f"CREATE TRIGGER {_q(table + '_ad')} AFTER DELETE ON {tab} BEGIN\n"  # noqa: S608
        f"  INSERT INTO {fts} ({fts}, rowid, {names}) VALUES('delete', old.rowid, {old});\nEND",
        _update_trigger(table),
    ]


def ensure_index(conn: sqlite3.Connection) -> list[str]:
    """Create (or bring up to date) the search index of every searched table, filling it from
    the rows already there; idempotent. Returns the tables (re)indexed.

    Plain SQL, the statements sqlite-utils would run: importing the library costs a process
    about 8 MB and 0.1 s, and every process that opens a new database builds its index."""
    todo = missing_indexes(conn)
    for table in todo:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for suffix in ("_ai", "_ad", "_au"):
                conn.execute(f"DROP TRIGGER IF EXISTS {_q(table + suffix)}")
            conn.execute(f"DROP TABLE IF EXISTS {_q(table + '_fts')}")
            for stmt in _index_sql(table):
                conn.execute(stmt)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return todo


# -- the query text ------------------------------------------------------------------------

def terms_of(text: str) -> list[str]:
    """The terms of a search text (whitespace-separated; a MAC typed with `-` or without
    separators is written as stored). Raises SearchError on text that cannot be searched."""
    if not isinstance(text, str):
        raise SearchError("the search text must be text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise SearchError("the search text is not valid UTF-8: type it again") from None
    if any(ord(ch) < 32 and ch not in "\t\n\r" or ord(ch) == 127 for ch in text):
        raise SearchError("the search text holds control characters: type plain text")
    text = text.strip()
    if not text:
        raise SearchError("type a word, an SSID, a MAC or an IP address to search for")
    if len(text) > MAX_TEXT:
        raise SearchError(f"the search text is too long: at most {MAX_TEXT} characters")
    terms = text.split()
    if len(terms) > MAX_TERMS:
        raise SearchError(f"too many words: at most {MAX_TERMS}")
    return [_normal(t) for t in terms]


def _normal(term: str) -> str:
    if _MAC.match(term):
        hexes = re.sub(r"[-:.]", "", term).lower()
        return ":".join(hexes[i:i + 2] for i in range(0, 12, 2))
    return term


def fts_query(terms: Iterable[str]) -> str:
    """The FTS5 query matching every term as a literal string (quotes doubled): no term can
    be read as an operator, a column filter, a prefix star or a NEAR group."""
    return " ".join('"' + t.replace('"', '""') + '"' for t in terms)


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# -- searching ------------------------------------------------------------------------------

def _rows(conn: sqlite3.Connection, table: str, terms: list[str], limit: int
          ) -> list[dict[str, Any]]:
    """Rows of TABLE holding every term: long terms through the FTS index (sqlite-utils'
    `Table.search`, ranked by bm25), short ones with an escaped LIKE on the searched columns."""
    cols = INDEXED[table]
    long_terms = [t for t in terms if len(t) >= 3]
    short = [t for t in terms if len(t) < 3]
    where_parts, args = [], {}
    for i, t in enumerate(short):
        args[f"s{i}"] = _like(t)
        where_parts.append("(" + " OR ".join(f"{c} LIKE :s{i} ESCAPE '\\'" for c in cols) + ")")
    where = " AND ".join(where_parts) or None
    if long_terms:
        import sqlite_utils

        db = sqlite_utils.Database(conn, recursive_triggers=False)
        return list(db.table(table).search(fts_query(long_terms), where=where,
                                           where_args=args or None, limit=limit))
    sql = f"SELECT rowid, * FROM {table} WHERE {where} LIMIT {int(limit)}"  # noqa: S608
    return _dicts(conn.execute(sql, args))


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    """Rows as dicts whatever the connection's row factory."""
    names = [d[0] for d in cur.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cur]


def _snippet(row: dict[str, Any], cols: tuple[str, ...], terms: list[str], width: int = 60
             ) -> tuple[str, str]:
    """The first searched column holding a term, and the text around it."""
    lowered = [t.casefold() for t in terms]
    for c in cols:
        value = str(row.get(c) or "")
        low = value.casefold()
        for t in lowered:
            at = low.find(t)
            if at < 0:
                continue
            start = max(0, at - (width - len(t)) // 2)
            end = min(len(value), start + width)
            start = max(0, end - width)
            text = value[start:end]
            return c, ("…" if start else "") + text + ("…" if end < len(value) else "")
    return cols[0], str(row.get(cols[0]) or "")[:width]


def _hit(table: str, row: dict[str, Any], terms: list[str]) -> Hit:
    field, snip = _snippet(row, INDEXED[table], terms)
    if table == "findings":
        return Hit(HitKind.FINDING, str(row["id"]), str(row["title_en"]), str(row["title_ja"]),
                   field, snip, f"/findings/{int(row['id'])}", str(row["severity"]),
                   str(row["status"]))
    if table == "access_points":
        name = str(row["ssid"]) or "(hidden)"
        label = f"{name} ({row['bssid']})"
        return Hit(HitKind.ACCESS_POINT, str(row["bssid"]), label, label, field, snip, "/wifi")
    if table == "devices":
        label = " ".join(str(x) for x in (row["ip"], row["vendor"], row["model"]) if x)
        return Hit(HitKind.DEVICE, str(row["ip"]), label, label, field, snip, "/devices")
    if table == "stations":
        label = f"{row['ip']} ({row['mac']})"
        return Hit(HitKind.STATION, f"{row['ip']} {row['mac']}", label, label, field, snip,
                   "/devices")
    label = f"{row['hostname'] or row['mac']} ({row['mac']})"
    return Hit(HitKind.HOST, f"{row['mac']} {row['source']}", label, label, field, snip,
               "/devices")


_KEYS = {"access_points": ("bssid",), "devices": ("ip", "mac"), "stations": ("ip", "mac"),
         "passive_hints": ("mac", "ip")}


def _related(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]], limit: int
             ) -> list[dict[str, Any]]:
    """Findings about the APs, devices and stations found (their subject names the BSSID, IP
    or MAC): searching an SSID finds the findings about that SSID's access points."""
    keys = sorted({str(r[k]) for r in rows for k in _KEYS[table] if r.get(k)})[:50]
    out: list[dict[str, Any]] = []
    for k in keys:
        whole = re.compile(r"(?<![\w.:])" + re.escape(k) + r"(?![\w.])", re.I)
        out += [r for r in _dicts(conn.execute(
            "SELECT * FROM findings WHERE subject LIKE ? ESCAPE '\\' "
            "ORDER BY last_seen DESC LIMIT ?", (_like(k), limit))) if whole.search(r["subject"])]
    return out


def search(conn: sqlite3.Connection, text: str, limit: int = DEFAULT_LIMIT) -> list[Hit]:
    """Everything matching every term of TEXT: findings first (best match first, then the
    findings about the access points, devices and stations matched), then those things."""
    terms = terms_of(text)
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"the limit must be 1 to {MAX_LIMIT}")
    absent = [t for t in INDEXED if not _has_index(conn, t)]
    if absent:
        raise SearchError("this database has no search index yet: it is built when this "
                          "version of the agent or dashboard opens the database "
                          f"(missing: {', '.join(absent)})")
    found: dict[str, list[dict[str, Any]]] = {t: _rows(conn, t, terms, limit) for t in INDEXED}
    findings = list(found["findings"])
    seen = {r["id"] for r in findings}
    related: list[dict[str, Any]] = []
    for table in _KEYS:
        for r in _related(conn, table, found[table], limit):
            if r["id"] not in seen:
                seen.add(r["id"])
                related.append(r)
    hits = [_hit("findings", r, terms) for r in findings]
    for r in related:
        h = _hit("findings", r, terms)
        hits.append(Hit(h.kind, h.id, h.label, h.label_ja, "subject", str(r["subject"]),
                        h.link, h.severity, h.status))
    for table in ("access_points", "devices", "stations", "passive_hints"):
        hits += [_hit(table, r, terms) for r in found[table]]
    return hits[:limit]
