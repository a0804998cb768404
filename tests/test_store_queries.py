"""SQL lives in the store (#15): each table family's statements are in its query module under
appliance/store/, and MQTT topic names are named once (appliance/topics.py). The behaviour of
each family is tested where it is used (test_findings, test_mqtt, test_export, ...); these tests
keep the SQL from spreading again."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from appliance import topics
from tests.conftest import ROOT

# table family -> its query module, and the tables whose writes and reads it owns
FAMILIES: dict[str, tuple[str, ...]] = {
    "appliance/store/findings.py": ("findings", "outbox", "finding_history", "alert_tests"),
    "appliance/store/auth.py": ("users", "sessions", "login_failures", "audit"),
    "appliance/store/probes.py": ("advisories", "rental_pcs"),
    "appliance/store/surveys.py": ("surveys", "survey_samples"),
    "appliance/store/exports.py": ("exports",),
    "appliance/store/observations.py": ("rssi_minutes",),
    "appliance/store/attestations.py": ("attestations", "evidence"),
}
# tables whose writes (not yet every read) are in their module
WRITES: dict[str, tuple[str, ...]] = {
    "appliance/store/findings.py": ("findings",),
    # probe_baseline is left out: the dashboard's baseline change gives it its own module
    "appliance/store/probes.py": ("probe_runs", "devices", "device_ports", "device_os"),
    "appliance/store/observations.py": ("stations", "events", "passive_hints"),
}
SQL_RE = r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM|FROM|JOIN)\s+{table}\b"
WRITE_RE = r"(INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+{table}\b"


def _python_files() -> list[Path]:
    return [p for d in ("appliance", "agent", "web") for p in (ROOT / d).rglob("*.py")
            if p != ROOT / "appliance" / "schema.py"]  # the DDL


def _strings(path: Path) -> str:
    """Every string literal of a module (SQL is in literals; comments and names are not)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return "\x00".join(n.value for n in ast.walk(tree)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str))


@pytest.mark.parametrize(("module", "table"), [(m, t) for m, ts in FAMILIES.items()
                                                for t in ts])
def test_a_table_family_is_queried_only_in_its_module(module: str, table: str) -> None:
    from appliance.store import search

    pattern = re.compile(SQL_RE.format(table=table), re.I)
    where = sorted(str(p.relative_to(ROOT)) for p in _python_files()
                   if pattern.search(_strings(p)))
    if table in search.INDEXED:  # the search reads what it indexes (read only)
        where = [w for w in where if w != "appliance/store/search.py"]
    assert where == [module], where


@pytest.mark.parametrize(("module", "table"), [(m, t) for m, ts in WRITES.items()
                                                for t in ts])
def test_a_table_is_written_only_in_its_module(module: str, table: str) -> None:
    pattern = re.compile(WRITE_RE.format(table=table), re.I)
    where = sorted(str(p.relative_to(ROOT)) for p in _python_files()
                   if pattern.search(_strings(p)))
    assert where == [module], where


def test_mqtt_topic_names_are_named_once() -> None:
    from agent import mqtt

    assert mqtt.TOPICS is topics.TOPICS
    literals = {t.split("/")[0] + "/" for t in topics.TOPICS if "/" in t}
    for p in _python_files():
        if p.name == "topics.py":
            continue
        text = _strings(p)
        for lit in literals:
            assert not re.search(rf"^{re.escape(lit)}", text, re.M), (p, lit)


# -- no SQL outside the store ------------------------------------------------------------------

SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|WITH|"
                       r"BEGIN|COMMIT|ROLLBACK|VACUUM|ATTACH)\b", re.I)
EXECUTES = {"execute", "executemany", "executescript"}  # sqlite3's doors
SQL_DOORS = EXECUTES | {"query"}  # Store.query takes SQL too


def _outside_the_store() -> list[Path]:
    store = ROOT / "appliance" / "store"
    return [p for p in _python_files() if store not in p.parents]


def _sql_calls(path: Path) -> list[str]:
    """`conn.execute(...)`-like calls in PATH whose SQL argument is a literal naming SQL, or
    is built somewhere else (a name, an attribute, a call: SQL handed around); each as
    `path:line name`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_DOORS and node.args):
            continue
        arg = node.args[0]
        literals = [n.value for n in ast.walk(arg)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        built = not isinstance(arg, (ast.Constant, ast.JoinedStr, ast.BinOp))
        if any(SQL_WORDS.search(s) for s in literals) or (
                built and node.func.attr in EXECUTES):
            out.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.attr}")
    return out


def test_no_sql_outside_the_store() -> None:
    """Every SQL statement of the appliance, the agent and the dashboard is in a query module
    under appliance/store/ (appliance/schema.py holds the DDL the migrations run)."""
    found = sorted(c for p in _outside_the_store() for c in _sql_calls(p))
    assert found == [], "\n".join(found)


def test_the_sql_check_sees_sql(tmp_path: Path) -> None:
    """The check above can fail: a literal, an f-string, a concatenation and a statement held
    in a variable are each seen; a call that is not SQL is not."""
    src = tmp_path / "m.py"
    src.write_text(
        "def f(conn, store, q, t):\n"
        "    conn.execute('SELECT value FROM meta WHERE key = ?', ('k',))\n"
        "    conn.executemany(f'DELETE FROM {t} WHERE id = ?', [])\n"
        "    conn.executescript('BEGIN; ' + 'COMMIT;')\n"
        "    conn.execute(q)\n"
        "    store.query('SELECT 1')\n"
        "    store.query(q)\n"
        "    pool.execute('job')\n", encoding="utf-8")
    fake = ROOT / "tests" / "m.py"  # relative_to(ROOT) needs a path under the project
    try:
        fake.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
        found = _sql_calls(fake)
    finally:
        fake.unlink()
    assert found == ["tests/m.py:2 execute", "tests/m.py:3 executemany",
                     "tests/m.py:4 executescript", "tests/m.py:5 execute",
                     "tests/m.py:6 query"]
