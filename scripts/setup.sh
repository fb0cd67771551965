#!/usr/bin/env bash
# One-time setup on a fresh Debian machine: the system packages nin needs, then the npm install that
# also compiles the TypeScript and the oneDNN addon. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# libdnnl-dev: the fast CPU backend; dataset-fashion-mnist: the official 60k/10k split;
# g++/make/python3: node-gyp's toolchain; fonts-dejavu-core: the font nin plot --png draws text with
# (resvg, from npm, renders the PNG and loads no system fonts); clang-format: npm run lint checks native/ with it;
# chromium: the headless browser nin serve's page is tested in (playwright-core drives it; nothing is downloaded);
# slurm-wlm, munge: a one-node Slurm the nin sweep test starts (scripts/slurm-local.sh) to run trials as a job array.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends libdnnl-dev dataset-fashion-mnist g++ make python3 fonts-dejavu-core clang-format chromium slurm-wlm munge >/dev/null
# mesa-vulkan-drivers: Mesa's lavapipe, a Vulkan device that runs on the CPU, so the webgpu backend and
# its tests run without a GPU (auto never picks it). Dawn needs Mesa 25 or newer; Debian 12 has it
# only in bookworm-backports, which is added from the same archive the system already uses.
install_lavapipe() {
  local codename
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  if [ "$codename" != bookworm ]; then
    $SUDO apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers >/dev/null
    return
  fi
  if ! apt-cache policy 2>/dev/null | grep 'bookworm-backports/main' >/dev/null; then
    local uri
    uri="$(grep -hm1 '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | awk '{print $2}')"
    [ -n "$uri" ] || uri="$(grep -hm1 -E '^deb [^ ]+ bookworm ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')"
    [ -n "$uri" ] || uri="http://deb.debian.org/debian"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    $SUDO apt-get update -qq
  fi
  $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers >/dev/null
}
install_lavapipe
npm ci --no-audit --no-fund
node -e "require('./native/build/Release/nin_onednn.node')" 2>/dev/null \
  && echo "setup: oneDNN backend built" \
  || echo "setup: warning: the oneDNN addon did not build; nin will use the slow pure-JS backend" >&2
