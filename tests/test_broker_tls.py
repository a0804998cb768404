"""The appliance's broker as install.sh configures it, with the certificate first boot makes.

The mosquitto configuration and the agent's TOML are taken from image-build/install.sh itself
(only the paths move into a temporary root and the port to a free one); the credentials come from
`appliance.firstboot.run`. A real mosquitto then must refuse plain MQTT and anonymous clients and
accept TLS with the first-boot certificate and the broker password — and the agent's own client
(agent.mqtt.client_for with the shipped TOML) must get through. tests/test_image_boot.py checks the
same on the booted system.
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from appliance import config as cfg
from appliance import firstboot
from tests.conftest import ROOT, Broker, _wait_port, free_port

INSTALL = (ROOT / "image-build" / "install.sh").read_text()


def heredoc(tag: str) -> str:
    m = re.search(rf"<<'{tag}'\n(.*?)\n{tag}\n", INSTALL, re.S)
    assert m, tag
    return m.group(1) + "\n"


@pytest.fixture
def appliance_broker(tmp_path: Path) -> Iterator[tuple[Path, int, dict[str, str]]]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists() or not shutil.which("mosquitto_passwd"):
        pytest.skip("needs Debian's mosquitto and mosquitto_passwd")
    root = tmp_path / "root"
    creds = firstboot.run(root, hostname="officeguard")
    port = free_port()
    conf = heredoc("CONF").replace("/etc/", f"{root}/etc/")
    assert "listener 8883\n" in conf
    conf = conf.replace("listener 8883\n", f"listener {port} 127.0.0.1\n")
    path = tmp_path / "mosquitto.conf"
    path.write_text(conf + "persistence false\n" + Broker.user_line())
    with (tmp_path / "mosquitto.log").open("ab") as log:
        proc = subprocess.Popen([exe, "-c", str(path)], stdout=subprocess.DEVNULL, stderr=log)
    try:
        _wait_port(port)
        yield root, port, creds
    finally:
        proc.terminate()
        proc.wait(10)


def connect(port: int, *, ca: Path | None, user: str | None = None,
            password: str | None = None) -> str:
    """CONNECT and report what happened: 'ok', a refusal reason, or the transport error."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv311)
    if ca is not None:
        client.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
    if user:
        client.username_pw_set(user, password)
    result: list[str] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object = None) -> None:
        result.append("ok" if not rc.is_failure else str(rc))  # type: ignore[attr-defined]
        done.set()

    def on_disconnect(c: mqtt.Client, u: object, f: object, rc: object, p: object = None
                      ) -> None:
        result.append(f"disconnected: {rc}")
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:  # (callers use it only where no TLS socket remains)
        return f"transport: {exc}"
    client.loop_start()
    try:
        if not done.wait(15):
            return "timeout"
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


def test_plain_mqtt_is_refused(appliance_broker: tuple[Path, int, dict[str, str]]) -> None:
    root, port, creds = appliance_broker
    # even with the right password, plain MQTT gets no CONNACK: the only listener is TLS
    got = connect(port, ca=None, user="officeguard", password=creds["mqtt_password"])
    assert got != "ok", got
    # and at the byte level: a CONNECT in clear text gets no CONNACK (0x20) back
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 10, 0, 0]))
        try:
            reply = s.recv(4)
        except (TimeoutError, ConnectionResetError):
            reply = b""
    assert not reply.startswith(b"\x20"), reply


def test_anonymous_and_wrong_password_are_refused(
        appliance_broker: tuple[Path, int, dict[str, str]]) -> None:
    root, port, creds = appliance_broker
    ca = root / "etc/officeguard/tls/web.crt"
    assert connect(port, ca=ca) != "ok"
    assert connect(port, ca=ca, user="officeguard", password="wrong") != "ok"


def test_tls_with_the_first_boot_certificate_and_password_works(
        appliance_broker: tuple[Path, int, dict[str, str]]) -> None:
    root, port, creds = appliance_broker
    ca = root / "etc/officeguard/tls/web.crt"
    assert connect(port, ca=ca, user="officeguard", password=creds["mqtt_password"]) == "ok"
    # another appliance's certificate is not trusted: each unit's certificate is its own
    other = firstboot.run(root.parent / "other", hostname="officeguard")
    assert other["tls_certificate_sha256"] != creds["tls_certificate_sha256"]
    ctx = ssl.create_default_context(cafile=root.parent / "other/etc/officeguard/tls/web.crt")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
    # the broker's certificate is the one first boot made (what the agent and phones pin)
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der == ssl.PEM_cert_to_DER_cert(ca.read_text())


def test_the_agent_client_with_the_shipped_config_gets_through(
        appliance_broker: tuple[Path, int, dict[str, str]], tmp_path: Path) -> None:
    from agent.mqtt import client_for

    root, port, creds = appliance_broker
    toml = heredoc("TOML").replace("/etc/", f"{root}/etc/").replace("8883", str(port))
    (tmp_path / "officeguard.toml").write_text(toml.replace("/var/lib/", f"{tmp_path}/var/"))
    config = cfg.load(tmp_path / "officeguard.toml")
    assert config.mqtt.tls and config.mqtt.port == port
    client = client_for(config, will=False)
    got = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sub")
    sub.tls_set(ca_certs=str(root / "etc/officeguard/tls/web.crt"))
    sub.username_pw_set("officeguard", creds["mqtt_password"])
    sub.on_message = lambda c, u, m: got.set() if m.payload == b"hello" else None
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("officeguard/#", qos=1)
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        deadline_ok = False
        for _ in range(100):
            info = client.publish("officeguard/test/alerts/test", "hello", qos=1)
            if got.wait(0.3):
                deadline_ok = True
                break
            del info
        assert deadline_ok, "the agent's TLS client could not publish to the appliance broker"
    finally:
        client.loop_stop()
        sub.loop_stop()


def test_install_script_has_no_plain_listener() -> None:
    conf = heredoc("CONF")
    listeners = re.findall(r"^listener\s+(\d+)", conf, re.M)
    assert listeners == ["8883"], listeners
    assert "allow_anonymous false" in conf and "certfile" in conf and "keyfile" in conf
    assert "port = 8883" in heredoc("TOML") and "tls = true" in heredoc("TOML")
