"""Helpers for the dashboard tests: a store with an admin, a logged-in TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from appliance.config import Config
from appliance.store import Store
from web import security as sec
from web.app import create_app

PASSWORD = "correct-horse-battery-9"  # a test account's password, never a product default


def config_for(tmp: Path, **web: object) -> Config:
    return Config.model_validate({
        "storage": {"data_dir": str(tmp / "data")},
        # TestClient's Host header is "testserver": allowed as a configured name would be
        "web": {"setup_code_file": str(tmp / "no-first-boot-code"),
                "allowed_hosts": ["testserver"], **web}})


def add_user(config: Config, username: str = "manager", role: str = "admin") -> None:
    store = Store(config.data_dir / "officeguard.db")
    try:
        store.write(lambda c: sec.create_user(c, username, PASSWORD, role))
    finally:
        store.close()


def add_finding(config: Config, rule: str = "wifi.weak_encryption", measure: str = "3-3",
                severity: str = "high", subjects: tuple[str, ...] = ("x",),
                title_ja: str = "t") -> None:
    """Open findings written straight into the store, as the agent would have."""
    store = Store(config.data_dir / "officeguard.db")
    try:
        store.write(lambda c: c.executemany(
            "INSERT INTO findings (rule, measure, severity, subject, status, title_ja, "
            "title_en, first_seen, last_seen, updated_at) VALUES (?, ?, ?, ?, 'open', ?, 't', "
            "1, 1, 1)", [(rule, measure, severity, s, title_ja) for s in subjects]))
    finally:
        store.close()


@contextmanager
def client(config: Config, login: str | None = None) -> Iterator[TestClient]:
    app = create_app(config, compliance_ttl_s=0, counts_ttl_s=0)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        if login:
            r = c.post("/login", data={"username": login, "password": PASSWORD, "next": "/"})
            assert r.status_code == 303, r.text
        yield c


def csrf(c: TestClient, path: str = "/") -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', c.get(path).text)
    assert m, "no CSRF token on the page"
    return m.group(1)
