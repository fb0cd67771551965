#!/usr/bin/env bash
# One-time setup on a fresh Debian machine: the system packages nin needs, then the npm install that
# also compiles the TypeScript and the oneDNN addon. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# libdnnl-dev: the fast CPU backend; dataset-fashion-mnist: the official 60k/10k split;
# g++/make/python3: node-gyp's toolchain; chromium: renders curves to PNG (tests, nin plot --png).
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends libdnnl-dev dataset-fashion-mnist g++ make python3 chromium fonts-dejavu-core >/dev/null
npm ci --no-audit --no-fund
node -e "require('./native/build/Release/nin_onednn.node')" 2>/dev/null \
  && echo "setup: oneDNN backend built" \
  || echo "setup: warning: the oneDNN addon did not build; nin will use the slow pure-JS backend" >&2
