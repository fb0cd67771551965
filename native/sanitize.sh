#!/bin/sh
# Builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer into native/build/sanitize/ (the
# default build in native/build/Release/ is untouched), then runs compiled test files on that build:
#   npm run build && native/sanitize.sh dist/test/onednn-kernels.test.js
# A sanitizer report on stderr (heap-buffer-overflow, "runtime error: ...") is a bug to fix.
set -eu
native=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$native")
scratch="$native/build/sanitize"
mkdir -p "$scratch"
cp "$native/binding.gyp" "$scratch/"
rm -rf "$scratch/src" && cp -r "$native/src" "$scratch/src"
(cd "$scratch" && node "$root/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir="$(dirname "$(dirname "$(command -v node)")")" -- -Dsanitize=1 >"$scratch/build.log" 2>&1) ||
  { tail -20 "$scratch/build.log"; exit 1; }
# ASan must load before everything else; leaks are not checked (V8 and oneDNN keep caches until exit).
cd "$root"
NIN_ONEDNN_ADDON="$scratch/build/Release/nin_onednn.node" LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
  node --test --test-concurrency=1 "$@"
