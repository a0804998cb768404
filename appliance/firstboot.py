"""First boot: credentials that are unique to this unit, made on the unit, never shipped.

`officeguard firstboot` (run once by officeguard-firstboot.service, as root) creates the
dashboard's one-time setup code, the local MQTT broker's password, the export-signing key and the
web service's TLS certificate, prints them to the console and keeps a copy readable by root only.
Nothing has a default; a second run refuses to replace anything unless asked to.
"""

from __future__ import annotations

import datetime as dt
import grp
import ipaddress
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from appliance import signing
from appliance.i18n import N_, both, gettext

USER = "officeguard"
DONE = ".firstboot-done"


class FirstBootError(Exception):
    pass


def _owner() -> tuple[int, int] | None:
    try:
        return pwd.getpwnam(USER).pw_uid, grp.getgrnam(USER).gr_gid
    except KeyError:
        return None


def _write(path: Path, data: bytes, mode: int, group_readable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    owner = _owner()
    if group_readable and owner and os.geteuid() == 0:
        os.chown(tmp, 0, owner[1])
    os.replace(tmp, path)


def _chgrp(path: Path, group: str) -> None:
    """root:GROUP, so a service that runs as GROUP (mosquitto) can read a root-owned secret."""
    try:
        if os.geteuid() == 0:
            os.chown(path, 0, grp.getgrnam(group).gr_gid)
    except KeyError:
        pass


def _cert_fingerprint(cert_pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    return x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256()).hex(":")


def setup_code() -> str:
    """12 characters from an unambiguous alphabet, shown as 3 groups of 4 (≈ 60 bits)."""
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    raw = "".join(secrets.choice(alphabet) for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def tls_certificate(hostname: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OfficeGuard appliance")])
    now = dt.datetime.now(dt.UTC)
    san = [x509.DNSName(hostname), x509.DNSName(f"{hostname}.local"),
           x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def run(root: Path = Path("/"), force: bool = False, hostname: str | None = None
        ) -> dict[str, Any]:
    etc = root / "etc" / "officeguard"
    data = root / "var" / "lib" / "officeguard"
    marker = data / DONE
    if marker.exists() and not force:
        raise FirstBootError(f"{marker} exists: first boot already ran (use --force to make "
                             "new credentials; the old ones stop working)")
    hostname = hostname or socket.gethostname()
    code = setup_code()
    _write(etc / "setup-code", (code + "\n").encode(), 0o640, group_readable=True)
    broker_pw = secrets.token_urlsafe(24)
    _write(etc / "mqtt-password", (broker_pw + "\n").encode(), 0o640, group_readable=True)
    passwd = root / "etc" / "mosquitto" / "officeguard.passwd"
    if shutil.which("mosquitto_passwd"):
        passwd.parent.mkdir(parents=True, exist_ok=True)
        passwd.unlink(missing_ok=True)
        # the password never goes on a command line (any local user can read those in
        # /proc): written to a new 0600 file that mosquitto_passwd -U hashes in place
        fd = os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{USER}:{broker_pw}\n")
        try:
            subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True,
                           capture_output=True)
        except BaseException:
            passwd.unlink(missing_ok=True)
            raise
        os.chmod(passwd, 0o640)
        _chgrp(passwd, "mosquitto")
    key_pem, cert_pem = tls_certificate(hostname)
    _write(etc / "tls" / "web.key", key_pem, 0o640, group_readable=True)
    _write(etc / "tls" / "web.crt", cert_pem, 0o644)
    # the folder too (made under the unit's UMask=0077): the services read the files in it
    os.chmod(etc / "tls", 0o750)  # noqa: S103 - group officeguard enters, nobody else
    _chgrp(etc / "tls", USER)
    # the broker serves the same certificate (TLS only, see image-build/install.sh), so the
    # agent and staff phones pin one certificate for the appliance
    certs = root / "etc" / "mosquitto" / "certs"
    _write(certs / "officeguard.crt", cert_pem, 0o644)
    _write(certs / "officeguard.key", key_pem, 0o640)
    _chgrp(certs / "officeguard.key", "mosquitto")
    data.mkdir(parents=True, exist_ok=True)
    key = signing.load_or_create_key(data)
    owner = _owner()
    if owner and os.geteuid() == 0:
        for p in (data, data / "keys", signing.key_path(data)):
            os.chown(p, *owner)
    summary = {
        "hostname": hostname,
        "setup_code": code,
        "mqtt_user": USER,
        "mqtt_password": broker_pw,
        "export_signing_key_sha256": signing.fingerprint(key),
        "tls_certificate": str(etc / "tls" / "web.crt"),
        "tls_certificate_sha256": _cert_fingerprint(cert_pem),
    }
    def line(msgid: str, value: object = None) -> str:
        """The console is read by whoever installs the box: Japanese / English."""
        ja, en = both(msgid)
        return f"{ja} / {en}" + ("" if value is None else f": {value}")

    text = "\n".join([
        "OfficeGuard — " + line(N_("first boot")),
        "  " + line(N_("dashboard setup code"), code),
        f"  MQTT: user {USER}, password {broker_pw}",
        "  " + line(N_("export signing key (SHA-256)"), summary["export_signing_key_sha256"]),
        "  " + line(N_("certificate (HTTPS, MQTT 8883) SHA-256"),
                    summary["tls_certificate_sha256"]),
        "  " + gettext("This is also saved in /root/officeguard-first-boot.txt, readable by "
                       "root only.", "ja"),
        ""])
    _write(root / "root" / "officeguard-first-boot.txt", text.encode(), 0o600)
    _write(marker, b"", 0o644)
    summary["console"] = text
    return summary
