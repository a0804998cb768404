"""Schemathesis fuzzes the checked-in OpenAPI spec of the dashboard API, logged in as an admin
with a valid CSRF token, against the real app and a real store: no answer may be a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from tests.conftest import ROOT
from tests.webutil import add_finding, add_user, client, config_for, csrf

schema = schemathesis.openapi.from_dict(json.loads((ROOT / "web" / "openapi.json").read_text()))


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    cfg = config_for(tmp)
    add_user(cfg)
    add_finding(cfg, subjects=tuple(f"s{i}" for i in range(20)), title_ja="<script>x</script>")
    with client(cfg, login="manager") as c:
        yield c, csrf(c)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, session: tuple[TestClient, str]) -> None:
    c, token = session
    kwargs = {"params": case.query or None, "headers": {"X-CSRF-Token": token,
                                                        **(case.headers or {})}}
    if isinstance(case.body, bytes):
        kwargs["content"] = case.body
    elif case.body is not None and not isinstance(case.body, schemathesis.core.NotSet):
        kwargs["json"] = case.body
    r = c.request(case.method, case.formatted_path, **kwargs)  # type: ignore[arg-type]
    assert r.status_code < 500, (case.method, case.formatted_path, case.query, case.body,
                                 r.status_code, r.text[:300])


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("fuzz-anon")
    cfg = config_for(tmp)
    add_user(cfg)
    with client(cfg) as c:
        yield c


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_without_a_session(case: schemathesis.Case,
                                            anonymous: TestClient) -> None:
    """The same fuzzing with no session (issue #14): every API answer is refused before any
    work — 401, or 413/422 for what cannot even be read — never a 5xx."""
    kwargs = {"params": case.query or None, "headers": dict(case.headers or {})}
    if isinstance(case.body, bytes):
        kwargs["content"] = case.body
    elif case.body is not None and not isinstance(case.body, schemathesis.core.NotSet):
        kwargs["json"] = case.body
    r = anonymous.request(case.method, case.formatted_path, **kwargs)  # type: ignore[arg-type]
    assert r.status_code < 500, (case.method, case.formatted_path, r.status_code)
    if case.formatted_path != "/health":
        assert r.status_code in (401, 404, 405, 413, 422), (case.method, case.formatted_path,
                                                            r.status_code)
