#!/usr/bin/env bash
# Rebuilds the terminal page's bundle (../static/) from the lockfile: xterm.js
# and its addons, bundled and minified by esbuild, with their license notices.
# The bundle is committed, so `go build` needs only Go; CI runs this script
# and fails if the result differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
out=../static
npx esbuild src/terminal.js --bundle --minify --format=iife --target=es2020 \
  --legal-comments=none --log-level=warning --outfile="$out/terminal.js"
{
  echo "The wsbridge terminal page bundles these packages, under these licenses."
  for pkg in @xterm/xterm @xterm/addon-clipboard @xterm/addon-fit @xterm/addon-image @xterm/addon-search @xterm/addon-unicode11 @xterm/addon-web-links @xterm/addon-webgl js-base64; do
    version=$(node -p "require('./node_modules/$pkg/package.json').version")
    printf '\n==== %s %s ====\n\n' "$pkg" "$version"
    cat "node_modules/$pkg/"LICENSE*
  done
} > "$out/licenses.txt"
