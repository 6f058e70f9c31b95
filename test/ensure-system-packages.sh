#!/usr/bin/env bash
# Installs the system packages the tests drive for real (socat makes the pseudo-terminal pairs the
# serial tests run over; chromium is the browser the browser tests drive through playwright-core;
# curl runs the README's and docs/api.md's curl commands against a station in test/integration/readme.test.ts;
# mosquitto is the real MQTT broker each MQTT test starts on its own loopback port; systemd brings
# systemd-analyze, which checks deploy/blinkup-station.service in test/integration/service.test.ts;
# openssl makes the certificates of the MQTT TLS tests).
# As root it installs what is missing; otherwise it names what to install.
set -euo pipefail
# package:command (the command that shows the package is there; sbin too, for a non-root PATH)
needed=(socat:socat chromium:chromium curl:curl mosquitto:mosquitto systemd:systemd-analyze openssl:openssl)
missing=()
for entry in "${needed[@]}"; do
  pkg="${entry%%:*}" cmd="${entry#*:}"
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
# unshare and mount (util-linux): the backup tests' read-only and tiny file systems, each in a mount namespace of its own
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
# a font with Chinese characters: the browser test of the dashboard in Simplified Chinese measures real glyphs, not empty boxes
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "== installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
