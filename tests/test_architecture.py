"""The walls between the rooms, enforced: an import that crosses one fails here, as does a cycle.

The rule (docs/architecture.md): the core (`appliance/` without `appliance/cli/`) imports neither
`agent` nor `web`; `agent` and `web` import only the core and themselves, never each other and
never the command line; only `appliance/cli/` imports everything. Imports inside functions
count: a lazy import is still an arrow. docs/architecture.md must name only modules that exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

ROOMS = ("appliance", "agent", "web")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for room in ROOMS:
        for p in sorted((ROOT / room).rglob("*.py")):
            rel = p.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module NAME refers to (the longest known prefix), None if not ours."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in MODULES:
            return cand
        parts.pop()
    return None


def _imports(mod: str, path: Path) -> list[tuple[str, int]]:
    """(imported project module, line) for every import in MOD, lazy ones included."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            # `from a.b import c` may name the module a.b.c or a name inside a.b
            names = [f"{base}.{a.name}" if _resolve(f"{base}.{a.name}") == f"{base}.{a.name}"
                     else base for a in node.names]
        for n in names:
            target = _resolve(n)
            if target is not None and target != mod:
                out.append((target, node.lineno))
    return out


def _room(mod: str) -> str:
    if mod == "appliance.cli" or mod.startswith("appliance.cli."):
        return "cli"
    return "core" if mod.split(".")[0] == "appliance" else mod.split(".")[0]


ALLOWED = {"core": {"core"}, "agent": {"core", "agent"}, "web": {"core", "web"},
           "cli": {"core", "agent", "web", "cli"}}


def test_no_import_crosses_a_wall() -> None:
    bad = []
    for mod, path in MODULES.items():
        for target, line in _imports(mod, path):
            if _room(target) not in ALLOWED[_room(mod)]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {_room(mod)} {mod} imports "
                           f"{_room(target)} {target}")
    assert not bad, "imports that break the layering rule:\n" + "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_no_import_cycles() -> None:
    graph = {m: {t for t, _ in _imports(m, p)} for m, p in MODULES.items()}
    # a package's __init__ re-exporting its own submodules is not a cycle of design
    for m in graph:
        graph[m] = {t for t in graph[m] if not (t.startswith(m + ".") and
                                                MODULES[m].name == "__init__.py")}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_wall_check_sees_a_lazy_import(tmp_path: Path) -> None:
    path = ROOT / "appliance" / "findings.py"
    fake = tmp_path / "findings.py"
    fake.write_text(path.read_text() + "\n\ndef _x() -> None:\n    from agent import lan\n")
    assert ("agent.lan", fake.read_text().count("\n")) in _imports("appliance.findings", fake)


DOC = ROOT / "docs" / "architecture.md"


def test_the_architecture_document_states_the_rule() -> None:
    text = DOC.read_text()
    assert "imports neither `agent` nor `web`" in text
    assert "appliance/cli/" in text


@pytest.mark.parametrize("room", ROOMS)
def test_every_module_the_architecture_document_names_exists(room: str) -> None:
    """Each back-quoted file or folder in the room's paragraph exists in that room."""
    text = DOC.read_text()
    para = re.search(rf"^- `{room}/`.*?(?=^- `|^## |\Z)", text, re.S | re.M)
    assert para, f"docs/architecture.md has no paragraph for {room}/"
    names = [n for n in re.findall(r"`([\w./-]+(?:\.py|/))`", para.group(0))
             if not n.startswith("/")]  # /api/ is a URL, not a folder
    assert len(names) >= 3
    files = [p.relative_to(ROOT / room).as_posix() for p in (ROOT / room).rglob("*")
             if "__pycache__" not in p.parts]
    missing = []
    for n in names:
        n = n.removeprefix(f"{room}/")
        if not n:
            continue
        if n.endswith("/"):
            ok = any(f == n.rstrip("/") or f.endswith("/" + n.rstrip("/")) for f in files)
        else:
            ok = any(f == n or f.endswith("/" + n) for f in files) or (ROOT / n).exists()
        if not ok:
            missing.append(n)
    assert not missing, f"docs/architecture.md names {room} modules that do not exist: {missing}"
