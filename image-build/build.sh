#!/bin/bash
# Build the OfficeGuard Raspberry Pi OS image with pi-gen (Raspberry Pi OS Lite + our stage).
#
# Needs: a Debian bookworm (or Raspberry Pi OS) host as root, about 10 GB of disk, network
# access to the Raspberry Pi archive, and pi-gen's dependencies (pi-gen's depends file; on an
# x86 host also qemu-user-static and binfmt-support). Or Docker, with BUILD=docker.
#
#   sudo image-build/build.sh            # → pi-gen/deploy/image_*-officeguard-lite.img.xz
set -euo pipefail

PI_GEN_REPO=https://github.com/RPi-Distro/pi-gen.git
PI_GEN_REF=2024-11-19-raspios-bookworm-arm64   # pinned: the build is reproducible
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
WORK=${WORK:-$HERE/work}

mkdir -p "$WORK"
if [ ! -d "$WORK/pi-gen" ]; then
  git clone --depth 1 --branch "$PI_GEN_REF" "$PI_GEN_REPO" "$WORK/pi-gen"
fi

# the wheel of this checkout, and the files the stage installs
rm -rf "$HERE/stage-officeguard/01-officeguard/files"
mkdir -p "$HERE/stage-officeguard/01-officeguard/files/wheels"
python3 -m pip wheel --no-deps -q -w "$HERE/stage-officeguard/01-officeguard/files/wheels" "$TOP"
cp -r "$TOP/systemd" "$HERE/stage-officeguard/01-officeguard/files/systemd"
cp "$HERE/install.sh" "$HERE/stage-officeguard/01-officeguard/files/"
cp -r "$TOP/docs" "$HERE/stage-officeguard/01-officeguard/files/docs"

rm -rf "$WORK/pi-gen/stage-officeguard"
cp -r "$HERE/stage-officeguard" "$WORK/pi-gen/"
cat > "$WORK/pi-gen/config" <<CONFIG
IMG_NAME=officeguard
RELEASE=bookworm
DEPLOY_COMPRESSION=xz
TARGET_HOSTNAME=officeguard
LOCALE_DEFAULT=ja_JP.UTF-8
KEYBOARD_KEYMAP=jp
TIMEZONE_DEFAULT=Asia/Tokyo
ENABLE_SSH=0
# no default user password: the Raspberry Pi Imager (or first boot) sets one
DISABLE_FIRST_BOOT_USER_RENAME=0
STAGE_LIST="stage0 stage1 stage2 stage-officeguard"
CONFIG
touch "$WORK/pi-gen/stage2/SKIP_IMAGES"

cd "$WORK/pi-gen"
if [ "${BUILD:-native}" = docker ]; then ./build-docker.sh; else ./build.sh; fi
