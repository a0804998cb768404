from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest

from appliance.guideline import CatalogError, load_catalog, parse_catalog
from tests.conftest import OFFICEGUARD


def test_catalog_shape() -> None:
    cat = load_catalog()
    assert len(cat.categories) == 6
    assert len(cat.measures) == 31
    per_cat = Counter(m.category for m in cat.measures)
    assert per_cat == {1: 5, 2: 5, 3: 8, 4: 6, 5: 3, 6: 4}
    levels = Counter(m.level for m in cat.measures)
    assert levels == {"basic": 24, "advanced": 6, "unknown": 1}
    assert cat.measure("3-3").title_ja == "無線LANアクセスポイントの適切な設定"
    assert cat.measure("3-3").inspection == "vulnerability"
    assert cat.measure("1-1").inspection == "audit"
    auto = sorted(m.id for m in cat.measures if m.monitor == "auto")
    assert auto == ["2-3", "3-2", "3-5", "3-6", "4-2"]


def test_rules_name_real_measures() -> None:
    from agent.rules import default_rules

    ids = load_catalog().ids()
    for rule in default_rules():
        assert rule.measure in ids, rule.id


def test_malformed_catalog_is_rejected() -> None:
    with pytest.raises(CatalogError):
        parse_catalog({"framework": {}, "categories": [], "measures": []})
    scheme = {"axes": [{"id": "audit", "grades": [{"grade": "A"}]}],
              "caps": {"audit": {"A": 1}}, "levels": [{"level": 1, "label_ja": "x",
                                                      "label_en": "x"}]}
    good = {"framework": {"id": "x", "title_ja": "x", "title_en": "x"}, "scheme": scheme,
            "categories": [{"id": 1, "title_ja": "a", "title_en": "a", "inspection": "audit"}],
            "measures": [{"id": "1-1", "number": "①", "title_ja": "a", "title_en": "a",
                          "level": "basic", "monitor": "attest"}] * 2}
    with pytest.raises(CatalogError, match="duplicate"):
        parse_catalog(good)
    with pytest.raises(CatalogError, match="scheme"):
        parse_catalog({k: v for k, v in good.items() if k != "scheme"})


def test_guideline_command_json() -> None:
    res = subprocess.run([OFFICEGUARD, "guideline", "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["framework"] == "jta-siotp-2021"
    assert len(doc["measures"]) == 31
    m = {x["measure"]: x for x in doc["measures"]}
    assert m["3-8"]["level"] == "advanced"
    assert set(m["3-8"]) >= {"measure", "title_ja", "title_en", "level", "inspection"}
