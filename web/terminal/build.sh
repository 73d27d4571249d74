#!/usr/bin/env bash
# Rebuilds the terminal page's bundle (../static/) from the lockfile: xterm.js
# and its addons, zmodem.js and trzsz, bundled and minified by esbuild, with
# their license notices.
# The bundle is committed, so `go build` needs only Go; CI runs this script
# and fails if the result differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
out=../static
# trzsz's package also runs under Node: its requires of Node's modules are
# in branches a browser never takes (they throw there, and it checks).
npx esbuild src/terminal.js --bundle --minify --format=iife --target=es2020 \
  --external:fs --external:util --external:child_process \
  --legal-comments=none --log-level=warning --outfile="$out/terminal.js"
{
  echo "The wsbridge terminal page bundles these packages, under these licenses."
  for pkg in @xterm/xterm @xterm/addon-clipboard @xterm/addon-fit @xterm/addon-image @xterm/addon-search @xterm/addon-unicode11 @xterm/addon-web-links @xterm/addon-webgl js-base64 zmodem.js crc-32 trzsz; do
    version=$(node -p "require('./node_modules/$pkg/package.json').version")
    printf '\n==== %s %s ====\n\n' "$pkg" "$version"
    cat "node_modules/$pkg/"LICENSE*
  done
} > "$out/licenses.txt"
