# OfficeGuard — the one place that says how to set up, run, test, lint and benchmark.
#   make run    create .venv, install, start the appliance on its embedded defaults
#   make cli ARGS='findings --json'   run any officeguard command from the .venv
#   make test   create .venv, install what the tests need (Debian packages too, as root), run them
#   make lint   ruff + mypy          make bench   print throughput figures
#   make test-image   build the image's root file system, boot it under systemd, check it (root)
#   make test-radio  only the live radio scenarios (a VM with mac80211_hwsim; part of make test)
#   make fuzz   a million random and mutated frames through the pipeline (not in CI)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages: what the appliance uses at run time, and what the tests add.
DEB_RUN := libpcap0.8 ieee-data iw libpango-1.0-0 libpangoft2-1.0-0 fonts-ipafont-gothic
# the radio testbed: Debian's kernel (it has mac80211_hwsim) in a QEMU VM, APs and stations
DEB_RADIO := qemu-system-x86 linux-image-amd64 hostapd iw wpasupplicant tcpdump wireless-regdb
# apt waits this long for the dpkg lock (held for minutes by unattended-upgrades after a boot)
APT := apt-get -o DPkg::Lock::Timeout=600
DEB_TEST := $(DEB_RUN) samba iproute2 iputils-ping nftables mosquitto tshark libwireshark-data tcpdump openssl poppler-utils \
            nmap lighttpd lighttpd-mod-openssl snmpd openssh-server openssh-client busybox-static procps \
            chromium apache2-utils $(DEB_RADIO)

.PHONY: fuzz-inputs run cli test test-radio test-image lint bench fuzz deb-run deb-test venv clean

define ensure_debs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	    $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run as root to install them; tests that need them are skipped)"; \
	  fi; \
	fi
endef

deb-run:
	$(call ensure_debs,$(DEB_RUN))

deb-test:
	$(call ensure_debs,$(DEB_TEST))

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  [ "$$(id -u)" = 0 ] && $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev]'
	@touch $@

venv: $(STAMP)

run: deb-run $(STAMP)
	$(BIN)/officeguard run

# any command of the CLI without activating the venv: make cli ARGS="status --json"
cli: $(STAMP)
	$(BIN)/officeguard $(ARGS)

test: deb-test $(STAMP)
	$(BIN)/pytest

# the live radio scenarios alone (they also run in `make test`, where a machine that cannot boot
# the VM skips them with the reason; here that is a failure)
test-radio: deb-test $(STAMP)
	OFFICEGUARD_TEST_RADIO=1 $(BIN)/pytest tests/radio

# the appliance as it ships (root): install.sh on a cached debootstrap bookworm, as pi-gen's
# stage runs it, then that system booted under its own systemd (systemd-nspawn --boot) and
# checked from outside; prints the time of each step. See docs/appliance.md.
DEB_IMAGE := debootstrap systemd-container
test-image: deb-test $(STAMP)
	$(call ensure_debs,$(DEB_IMAGE))
	OFFICEGUARD_TEST_IMAGE=1 $(BIN)/pytest -s -p no:cacheprovider tests/test_image_install.py tests/test_image_boot.py

lint: $(STAMP)
	$(BIN)/ruff check appliance agent web tests bench
	$(BIN)/mypy

bench: deb-test $(STAMP)
	$(BIN)/python bench/bench_arp.py
	$(BIN)/python bench/bench_hints.py
	$(BIN)/python bench/bench_wifi.py
	$(BIN)/python bench/bench_mqtt.py
	$(BIN)/python bench/bench_export.py
	$(BIN)/python bench/bench_search.py
	$(BIN)/python bench/bench_probe.py
	$(BIN)/python bench/bench_web.py
	$(BIN)/python bench/bench_hostile_web.py

fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_wifi.py --frames 1000000

# capture headers/options and the config loader, ten minutes each (outside CI)
fuzz-inputs: $(STAMP)
	$(BIN)/python bench/fuzz_inputs.py --minutes 10

clean:
	rm -rf $(VENV) officeguard-data .pytest_cache .mypy_cache .ruff_cache
