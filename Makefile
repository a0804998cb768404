# OfficeGuard — the one place that says how to set up, run, test, lint and benchmark.
#   make run    create .venv, install, start the appliance on its embedded defaults
#   make cli ARGS='findings --json'   run any officeguard command from the .venv
#   make test   create .venv, install what the tests need (Debian packages too, as root), run them
#   make lint   ruff + mypy          make bench   print throughput figures
#   make fuzz   a million random and mutated frames through the pipeline (not in CI)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages: what the appliance uses at run time, and what the tests add.
DEB_RUN := libpcap0.8 ieee-data iw libpango-1.0-0 libpangoft2-1.0-0 fonts-ipafont-gothic
# apt waits this long for the dpkg lock (held for minutes by unattended-upgrades after a boot)
APT := apt-get -o DPkg::Lock::Timeout=600
DEB_TEST := $(DEB_RUN) iproute2 iputils-ping nftables mosquitto tshark libwireshark-data tcpdump openssl poppler-utils \
            nmap lighttpd lighttpd-mod-openssl snmpd openssh-server openssh-client busybox-static procps \
            chromium apache2-utils

.PHONY: run cli test test-image lint bench fuzz deb-run deb-test venv clean

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

# the image's install step in a debootstrap chroot (slow, needs the network; not in CI)
test-image: deb-test $(STAMP)
	@command -v debootstrap >/dev/null || $(APT) install -y -qq debootstrap >/dev/null
	OFFICEGUARD_TEST_IMAGE=1 $(BIN)/pytest tests/test_image_install.py

lint: $(STAMP)
	$(BIN)/ruff check appliance agent web tests bench
	$(BIN)/mypy

bench: deb-test $(STAMP)
	$(BIN)/python bench/bench_arp.py
	$(BIN)/python bench/bench_wifi.py
	$(BIN)/python bench/bench_mqtt.py
	$(BIN)/python bench/bench_export.py
	$(BIN)/python bench/bench_probe.py
	$(BIN)/python bench/bench_web.py

fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_wifi.py --frames 1000000

clean:
	rm -rf $(VENV) officeguard-data .pytest_cache .mypy_cache .ruff_cache
