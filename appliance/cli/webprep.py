"""What the web service needs on disk before it starts, made outside the web process: its TLS
certificate (when none is configured) and the export-signing public key file the exports page
reads. The web process thus never loads the cryptography library (about 10 MB) and starts no
child process; the web unit runs `officeguard web-prepare` as ExecStartPre=, and `officeguard
web`/`run` make what is missing in a short-lived child before the server starts."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from appliance.cli.common import EXIT_OK
from appliance.config import Config

log = logging.getLogger("officeguard")


def generated_tls_paths(config: Config) -> tuple[Path, Path]:
    d = config.data_dir / "tls"
    return d / "web.crt", d / "web.key"


def tls_files(config: Config) -> tuple[Path, Path]:
    """The configured certificate, else the one generated for this unit in the data directory
    (made now, in a child process, if it is missing)."""
    cert, key = Path(config.web.tls_cert), Path(config.web.tls_key)
    if cert.exists() and key.exists():
        return cert, key
    cert, key = generated_tls_paths(config)
    if not (cert.exists() and key.exists()):
        # a child process: the long-running web process never loads the cryptography library
        # for a certificate it needs once
        cert.parent.mkdir(parents=True, exist_ok=True)
        code = ("import os, socket, sys\n"
                "from appliance.firstboot import tls_certificate\n"
                "k, c = tls_certificate(socket.gethostname())\n"
                "fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)\n"
                "os.write(fd, k)\nos.close(fd)\n"
                "open(sys.argv[1], 'wb').write(c)\n")
        subprocess.run([sys.executable, "-c", code, str(cert), str(key)], check=True,
                       timeout=60)
        log.info("generated a self-signed certificate for the dashboard: %s", cert)
    return cert, key


def public_key_file(config: Config) -> bool:
    """Write the export-signing public key file if the key exists (this process may load the
    cryptography library: it is not the web's). False before the key is made."""
    from appliance import signing

    if not signing.key_path(config.data_dir).exists():
        return False
    signing.load_or_create_key(config.data_dir)  # writes appliance/public_key.py's file
    return True


def cmd_web_prepare(args: argparse.Namespace, config: Config) -> int:
    """`officeguard web-prepare` (the web unit's ExecStartPre=)."""
    if not getattr(args, "insecure_http", False):
        cert, _key = tls_files(config)
        log.info("dashboard certificate: %s", cert)
    try:
        if not public_key_file(config):
            log.info("no export-signing key yet: it is made at first boot or by the first "
                     "export")
    except (OSError, ValueError) as exc:
        # the dashboard still starts; its exports page says the key is not there yet
        log.error("cannot write the export-signing public key file: %s", exc)
    return EXIT_OK
