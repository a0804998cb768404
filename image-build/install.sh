#!/bin/bash
# Turn a Debian bookworm / Raspberry Pi OS Lite root into an OfficeGuard appliance.
# Plain and idempotent: pi-gen runs it in its chroot (stage-officeguard/01-officeguard), and
# tests/test_image_install.py runs it in a debootstrap chroot.
#
#   install.sh WHEEL_OR_DIR [UNITS_DIR]
#
# WHEEL_OR_DIR is the officeguard wheel, or a folder of wheels; with OFFLINE=1 that folder must
# hold every dependency too (built for the target's architecture) and nothing is downloaded.
#
# It installs no credential of any kind: the unit makes its own at first boot
# (officeguard-firstboot.service → `officeguard firstboot`).
set -euo pipefail

WHEELS=${1:?usage: install.sh WHEEL_OR_DIR [UNITS_DIR]}
UNITS=${2:-$(dirname "$0")/../systemd}
VENV=/opt/officeguard/venv
export DEBIAN_FRONTEND=noninteractive

apt-get install -y -qq --no-install-recommends \
  python3 python3-venv mosquitto mosquitto-clients libpcap0.8 ieee-data iw iproute2 \
  libpango-1.0-0 libpangoft2-1.0-0 fonts-ipafont-gothic ca-certificates systemd >/dev/null

# the static user, from the same sysusers file the units expect
install -D -m 0644 "$UNITS/officeguard.sysusers.conf" /usr/lib/sysusers.d/officeguard.conf
if command -v systemd-sysusers >/dev/null; then
  systemd-sysusers /usr/lib/sysusers.d/officeguard.conf
fi
id officeguard >/dev/null 2>&1 || useradd --system --home-dir /var/lib/officeguard \
  --shell /usr/sbin/nologin officeguard

# the application: one venv per release under releases/, `venv` a symlink to the current one
# (`officeguard upgrade` installs the next release beside it and can switch back)
RELEASE=/opt/officeguard/releases/initial
if [ -e "$VENV" ] && [ ! -L "$VENV" ]; then rm -rf "$VENV"; fi
rm -rf "$RELEASE"
python3 -m venv "$RELEASE"
ln -sfn "$RELEASE" "$VENV"
PIP_OPTS=(-q --disable-pip-version-check)
[ "${OFFLINE:-0}" = 1 ] && PIP_OPTS+=(--no-index)
if [ -d "$WHEELS" ]; then
  "$VENV/bin/pip" install "${PIP_OPTS[@]}" --find-links "$WHEELS" officeguard
else
  "$VENV/bin/pip" install "${PIP_OPTS[@]}" "$WHEELS"
fi
ln -sf "$VENV/bin/officeguard" /usr/local/bin/officeguard

# configuration: the appliance's paths; secrets are files made at first boot
install -d -m 0750 -o root -g officeguard /etc/officeguard
if [ ! -e /etc/officeguard/officeguard.toml ]; then
  cat > /etc/officeguard/officeguard.toml <<'TOML'
# OfficeGuard on this appliance. See /opt/officeguard/docs/configuration.md.
[storage]
data_dir = "/var/lib/officeguard"

# the local broker speaks TLS only, with the certificate made at first boot (pinned here)
[mqtt]
host = "127.0.0.1"
port = 8883
tls = true
ca_file = "/etc/officeguard/tls/web.crt"
username = "officeguard"
password_file = "/etc/officeguard/mqtt-password"

# the monthly inspector export runs in its own sandboxed unit (officeguard-export.timer)
[exports]
schedule = "timer"
TOML
  chmod 0640 /etc/officeguard/officeguard.toml
  chgrp officeguard /etc/officeguard/officeguard.toml
fi
install -d -m 0750 -o officeguard -g officeguard /var/lib/officeguard

# the facility's local broker: TLS only (no plain listener at all), a password for every
# client, no anonymous access. The password file and the certificate (the appliance's own,
# the dashboard's too) are made at first boot; staff phones pin that certificate.
install -D -m 0644 /dev/stdin /etc/mosquitto/conf.d/officeguard.conf <<'CONF'
# OfficeGuard: the facility's broker, TLS only. The password file and certificate are made
# at first boot (officeguard firstboot).
per_listener_settings false
allow_anonymous false
password_file /etc/mosquitto/officeguard.passwd
listener 8883
certfile /etc/mosquitto/certs/officeguard.crt
keyfile /etc/mosquitto/certs/officeguard.key
tls_version tlsv1.2
CONF
# a unit whose first boot ran before the broker had TLS: give mosquitto its certificate now
if [ -e /etc/officeguard/tls/web.crt ] && [ ! -e /etc/mosquitto/certs/officeguard.crt ]; then
  install -m 0644 /etc/officeguard/tls/web.crt /etc/mosquitto/certs/officeguard.crt
  install -m 0640 -g mosquitto /etc/officeguard/tls/web.key /etc/mosquitto/certs/officeguard.key
fi

# units
for u in officeguard-agent.service officeguard-web.service officeguard-web.socket \
         officeguard-monitor@.service officeguard-export.service officeguard-export.timer \
         officeguard-firstboot.service; do
  install -D -m 0644 "$UNITS/$u" "/etc/systemd/system/$u"
done
systemctl enable officeguard-firstboot.service officeguard-agent.service \
  officeguard-web.socket officeguard-export.timer mosquitto.service >/dev/null 2>&1 || {
  # in a chroot without a running systemd, link by hand what `systemctl enable` would
  install -d /etc/systemd/system/multi-user.target.wants /etc/systemd/system/sockets.target.wants
  ln -sf /etc/systemd/system/officeguard-firstboot.service /etc/systemd/system/multi-user.target.wants/
  ln -sf /etc/systemd/system/officeguard-agent.service /etc/systemd/system/multi-user.target.wants/
  ln -sf /etc/systemd/system/officeguard-web.socket /etc/systemd/system/sockets.target.wants/
  install -d /etc/systemd/system/timers.target.wants
  ln -sf /etc/systemd/system/officeguard-export.timer /etc/systemd/system/timers.target.wants/
}

echo officeguard > /etc/hostname
echo "installed: $("$VENV/bin/officeguard" --version)"
