#!/usr/bin/env bash
# Builds the operators' console (console/) into the gateway package, where the Connect port serves it at
# /console: esbuild bundles console/src/main.ts with the TypeScript client's generated services and
# @connectrpc/connect-web into one file; the page and its stylesheet are copied beside it. Nothing is fetched
# at run time (no CDN). Type-checked with tsc first, since esbuild only strips types.
# Usage: scripts/gen_console.sh [OUT_DIR]   OUT_DIR defaults to server/taskrouter_gateway/connect/console_dist;
# check_protos.sh passes a temp dir and diffs. Output is deterministic for the pinned esbuild.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/server/taskrouter_gateway/connect/console_dist}"
esbuild="$root/node_modules/.bin/esbuild"
tsc="$root/node_modules/.bin/tsc"
[[ -x "$esbuild" && -x "$tsc" ]] || { echo "gen_console: run 'npm ci' in $root (esbuild, typescript)" >&2; exit 1; }

"$tsc" -p "$root/console"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$esbuild" "$root/console/src/main.ts" --bundle --format=esm --target=es2022 --minify --legal-comments=none \
  --log-level=warning --outfile="$work/console.js"
cp "$root/console/index.html" "$root/console/console.css" "$work/"
rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$work" "$out"
chmod 755 "$out"
