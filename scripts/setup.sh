#!/usr/bin/env bash
# Install everything Kouan's service and tests need on a fresh Debian machine:
# system packages (mosquitto broker, Debian chromium for the browser tests) and a virtualenv
# with the project, its dev tools and the CPU build of torch used by the model tests.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# plates like 新F12345 on the lane terminal (and in its screenshots) need a CJK font
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PY:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch==2.13.0 (CPU) is the only torch this workplace serves without a multi-GB download.
.venv/bin/python -m pip install -q -e '.[dev,train]'
echo "setup: done ($(.venv/bin/python --version), kouan at .venv/bin/kouan)"
