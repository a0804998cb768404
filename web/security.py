"""Accounts, sessions, CSRF, login throttling and the first-run setup code.

No account exists until the first-run setup; the setup needs the one-time code the appliance
printed to its console (first boot) or, on a development machine, to the web service's log and
a 0600 file in the data directory. Passwords are Argon2id hashes. A session is a random token in
a Secure, HttpOnly, SameSite=Strict cookie; the database keeps only its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
import time
import typing
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from appliance.config import Config
from appliance.store import auth as q

log = logging.getLogger("officeguard.web")
ROLES = ("admin", "viewer", "inspector")
COOKIE = "og_session"
# Argon2id with one of OWASP's equivalent minimum settings (7 MiB, 5 passes, 1 lane): the
# web process stays small on a Pi while a login costs about as much work as the 19 MiB option.
_hasher = PasswordHasher(time_cost=5, memory_cost=7168, parallelism=1)
_dummy: list[str] = []


def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist: the same work either way."""
    if not _dummy:
        _dummy.append(_hasher.hash(secrets.token_urlsafe(16)))
    return _dummy[0]
MIN_PASSWORD = 12


class AuthError(Exception):
    """A refusal with a message fit for the login page."""


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    username: str
    role: str
    csrf: str
    token_sha256: str

    @property
    def can_write(self) -> bool:
        return self.role == "admin"


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_problem(username: str, password: str) -> str:
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    if password.lower() in (username.lower(), "password", "officeguard", "administrator") or \
            len(set(password)) < 5:
        return "too easy to guess"
    return ""


def has_users(conn: sqlite3.Connection) -> bool:
    return q.has_users(conn)


def create_user(conn: sqlite3.Connection, username: str, password: str, role: str) -> int:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}")
    if not (1 <= len(username) <= 64) or not username.isprintable():
        raise AuthError("user name: 1 to 64 printable characters")
    problem = password_problem(username, password)
    if problem:
        raise AuthError(f"password: {problem}")
    try:
        return q.add_user(conn, username, _hasher.hash(password), role, time.time())
    except sqlite3.IntegrityError as exc:
        raise AuthError("that user name is taken") from exc


# -- user management (dashboard and CLI; every change audited) ---------------------------------
def _user(conn: sqlite3.Connection, username: str) -> dict[str, typing.Any]:
    row = q.user(conn, username)
    if row is None:
        raise AuthError(f"no user {username!r}")
    return row


def end_sessions(conn: sqlite3.Connection, actor: str, username: str,
                 keep_sha256: str | None = None) -> int:
    """Log USERNAME out everywhere (but the session KEEP_SHA256, when it is the actor's own)."""
    u = _user(conn, username)
    n = q.end_sessions_of(conn, u["id"], keep_sha256 or "")
    audit(conn, actor, "sessions ended", f"{username}: {n} session(s)")
    return n


def set_password(conn: sqlite3.Connection, actor: str, username: str, password: str,
                 current: str | None = None, keep_sha256: str | None = None) -> None:
    """A new password for USERNAME; with CURRENT (a user changing their own) the old one must
    match. Every other session of the user ends: whoever knew the old password is out."""
    u = _user(conn, username)
    if current is not None:
        ok: bool
        try:
            ok = _hasher.verify(u["password_hash"], current)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok:
            raise AuthError("the current password is wrong")
    problem = password_problem(username, password)
    if problem:
        raise AuthError(f"password: {problem}")
    q.set_password_hash(conn, u["id"], _hasher.hash(password))
    q.end_sessions_of(conn, u["id"], keep_sha256 or "")
    audit(conn, actor, "password changed", username)


def set_disabled(conn: sqlite3.Connection, actor: str, username: str, disabled: bool) -> None:
    """Disable (and log out everywhere) or re-enable a user; the last enabled administrator
    cannot be disabled — nobody could manage the appliance any more."""
    u = _user(conn, username)
    if disabled and u["role"] == "admin" and not u["disabled"] and q.enabled_admins(conn) <= 1:
        raise AuthError("this is the last enabled administrator; add another first")
    q.set_disabled(conn, u["id"], disabled)
    if disabled:
        q.end_sessions_of(conn, u["id"])
    audit(conn, actor, "user disabled" if disabled else "user enabled", username)


def _failures(conn: sqlite3.Connection, username: str, ip: str, since: float) -> tuple[int, int]:
    # per user name *from this address*: a neighbour guessing cannot lock the manager out
    return q.failures(conn, username[:64], ip, since)


def login(conn: sqlite3.Connection, config: Config, username: str, password: str, ip: str,
          now: float | None = None) -> tuple[str, Session] | str:
    """A new session token, or the refusal ("locked", "invalid") — returned, not raised, so the
    failure is recorded in the same committed transaction. Locked after `lockout_failures`
    failures for a user from one address (or 4× that for any names from one address) within
    `lockout_minutes`; other addresses are not locked out."""
    now = time.time() if now is None else now
    w = config.web
    since = now - w.lockout_minutes * 60
    by_user, by_ip = _failures(conn, username, ip, since)
    if by_user >= w.lockout_failures or by_ip >= 4 * w.lockout_failures:
        return "locked"
    row = q.user(conn, username)
    ok = False
    try:
        ok = _hasher.verify(row["password_hash"] if row else _dummy_hash(), password) and \
            row is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None or row["disabled"]:
        q.add_failure(conn, username[:64], ip, now)
        if by_user + 1 >= w.lockout_failures:
            audit(conn, username[:64], "lockout", f"from {ip}")
        return "invalid"
    q.clear_failures(conn, username)
    if _hasher.check_needs_rehash(row["password_hash"]):
        q.set_password_hash(conn, row["id"], _hasher.hash(password))
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    q.add_session(conn, _sha(token), row["id"], csrf, now, now + w.session_hours * 3600)
    q.drop_expired_sessions(conn, now)
    audit(conn, row["username"], "login", f"from {ip}")
    return token, Session(row["id"], row["username"], row["role"], csrf, _sha(token))


def session_for(conn: sqlite3.Connection, token: str | None, now: float | None = None
                ) -> Session | None:
    if not token or len(token) > 200:
        return None
    now = time.time() if now is None else now
    row = q.session(conn, _sha(token))
    if row is None or row["expires_at"] < now or row["disabled"]:
        return None
    return Session(row["id"], row["username"], row["role"], row["csrf"], row["token_sha256"])


def logout(conn: sqlite3.Connection, s: Session) -> None:
    q.end_session(conn, s.token_sha256)
    audit(conn, s.username, "logout", "")


def csrf_ok(s: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(s.csrf, submitted or "")


def audit(conn: sqlite3.Connection, actor: str, action: str, detail: str) -> None:
    q.audit(conn, actor, action, detail)


# -- the first-run setup code ----------------------------------------------------------------
def setup_code_path(config: Config) -> Path:
    p = Path(config.web.setup_code_file)
    return p if p.exists() else config.data_dir / "setup-code"


def ensure_setup_code(config: Config) -> str:
    """The one-time code: first boot's file if it exists, else one made now (0600) and logged."""
    first = Path(config.web.setup_code_file)
    try:
        if first.exists():
            return first.read_text().strip()
    except OSError as exc:
        log.error("cannot read %s: %s", first, exc)
    own = config.data_dir / "setup-code"
    if own.exists():
        code = own.read_text().strip()
    else:
        from appliance.firstboot import setup_code

        code = setup_code()
        own.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(own, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(code + "\n")
    log.warning("no dashboard account exists yet: open the dashboard and enter the setup code "
                "%s (also in %s, readable by its owner only)", code, own)
    return code


def setup_locked(conn: sqlite3.Connection, config: Config, ip: str,
                 now: float | None = None) -> bool:
    """Too many wrong setup codes from this address within web.lockout_minutes."""
    now = time.time() if now is None else now
    n, _ = q.failures(conn, q.SETUP, ip, now - config.web.lockout_minutes * 60)
    return n >= config.web.lockout_failures


def setup_failed(conn: sqlite3.Connection, ip: str) -> None:
    q.add_failure(conn, q.SETUP, ip, time.time())


def _current_setup_code(config: Config) -> str:
    """The code, read quietly (it is logged once, when it is made or the service starts)."""
    for p in (Path(config.web.setup_code_file), config.data_dir / "setup-code"):
        try:
            if p.exists():
                return p.read_text().strip()
        except OSError as exc:
            log.error("cannot read %s: %s", p, exc)
    return ensure_setup_code(config)


def setup_code_ok(config: Config, submitted: str) -> bool:
    want = _current_setup_code(config)
    norm = submitted.strip().upper().replace(" ", "")
    return bool(want) and hmac.compare_digest(want.replace(" ", ""), norm)


def retire_setup_code(config: Config) -> None:
    own = config.data_dir / "setup-code"
    own.unlink(missing_ok=True)
