"""Documentation that is tested: every key, command, rule and event kind is documented."""

from __future__ import annotations

import dataclasses
import typing

from agent.events import LAN_EVENT_KINDS
from agent.rules import default_rules
from agent.wifi import WIFI_EVENT_KINDS
from appliance.cli import build_parser
from appliance.config import Config
from tests.conftest import ROOT

DOCS = ROOT / "docs"


def _keys(model: type, prefix: str = "") -> list[str]:
    out = []
    hints = typing.get_type_hints(model)
    for f in dataclasses.fields(model):
        ann = hints[f.name]
        inner = typing.get_args(ann) or (ann,)
        sub = next((a for a in inner if dataclasses.is_dataclass(a)), None)
        if sub is not None:
            out += _keys(sub, f"{prefix}{f.name}.")  # type: ignore[arg-type]
        else:
            out.append(prefix + f.name)
    return out


def test_every_config_key_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for key in _keys(Config):
        section, _, leaf = key.rpartition(".")
        assert f"`{leaf}`" in text, key
        assert f"[{section}]" in text or f"[[{section}]]" in text, key


def test_every_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"officeguard {name}" in text, name


def test_every_rule_and_event_is_documented() -> None:
    text = "".join(p.read_text() for p in sorted(DOCS.glob("*.md")))
    for rule in default_rules():
        assert f"`{rule.id}`" in text, rule.id
    for kind in (*LAN_EVENT_KINDS, *WIFI_EVENT_KINDS):
        assert f"`{kind}`" in text, kind


def test_every_probe_rule_is_documented() -> None:
    import json

    text = (DOCS / "probes.md").read_text()
    doc = json.loads((ROOT / "appliance" / "data" / "jta-siotp-2021.json").read_text())
    rules = {r for m in doc["measures"] for c in m["checks"] for r in c.get("rules", ())
             if r.startswith("probe.")}
    assert len(rules) >= 10
    for rule in rules:
        assert f"`{rule}`" in text, rule


def test_readme_has_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text
