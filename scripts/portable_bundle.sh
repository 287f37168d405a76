#!/usr/bin/env bash
# Builds a self-contained folder that runs the benchmark and the parity script with Node alone,
# for a machine without npm or a network (a GPU server, say):
#
#   npm run build && bash scripts/portable_bundle.sh /tmp/sam-portable
#   node /tmp/sam-portable/bench.mjs --backend webgpu --runs 3        # on that machine
#   node /tmp/sam-portable/parity.mjs <fixtures dir> --backend webgpu
#
# Our code and its pure-JS dependencies are bundled with esbuild; the tfjs packages stay
# packages (their Node builds, one file each), so that every backend registers with the same
# tfjs; WebGPU comes from the `webgpu` package's Linux x64 Dawn build. ~35 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/portable_bundle.sh OUT_DIR}
[ -f dist/bench/bench.js ] || { echo "dist/ is missing: run 'npm run build' first" >&2; exit 1; }
# OUT_DIR is replaced: refuse a non-empty folder that is not an earlier bundle.
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && ! grep -qs '"sam-tfjs-portable"' "$out/package.json"; then
  echo "$out exists and is not a portable bundle: give a new or empty folder" >&2
  exit 1
fi
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/node_modules/@tensorflow"
# One esbuild run with code splitting: the benchmark, the parity script, and the two modules
# src/backend.ts imports by path when the backend is wasm (the threaded backend's loader, the
# mask rows' helper threads) share one copy of each module, in chunk files beside bench.js
# (so that those imports' relative paths hold from them too). Bundled apart, each had its
# own copy of wasm_kernels.ts: the helper threads the loader started were not the ones the
# kernels looked up, and every wasm kernel ran on one thread (ViT-B encoder 30.7 s against
# 16.0 s, `--backend wasm --runs 1`).
node_modules/.bin/esbuild bench=dist/bench/bench.js parity=dist/scripts/parity.js \
  backends/wasm_threads_node=dist/src/backends/wasm_threads_node.js \
  sam/mask_rows_workers_node=dist/src/sam/mask_rows_workers_node.js \
  --bundle --splitting --platform=node --format=esm --target=node20 \
  --external:'@tensorflow/*' --external:webgpu --log-level=warning \
  --outdir="$tmp" --chunk-names='[name]-[hash]' \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
for entry in bench parity; do echo "import './$entry.js';" > "$tmp/$entry.mjs"; done
for p in node_modules/@tensorflow/*; do
  name=$(basename "$p")
  main=$(node -p "require('./$p/package.json').main")
  mkdir -p "$tmp/node_modules/@tensorflow/$name/$(dirname "$main")"
  cp "$p/package.json" "$tmp/node_modules/@tensorflow/$name/"
  cp "$p/$main" "$tmp/node_modules/@tensorflow/$name/$main"
done
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$tmp/node_modules/@tensorflow/tfjs-backend-wasm/dist/"
cp -r node_modules/@tensorflow/tfjs-backend-wasm/wasm-out "$tmp/node_modules/@tensorflow/tfjs-backend-wasm/"
# What the tfjs Node builds require.
for d in seedrandom long node-fetch whatwg-url tr46 webidl-conversions string_decoder safe-buffer; do
  cp -r "node_modules/$d" "$tmp/node_modules/"
done
mkdir -p "$tmp/node_modules/webgpu/dist"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$tmp/node_modules/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$tmp/node_modules/webgpu/dist/"
echo '{"name":"sam-tfjs-portable","private":true,"type":"module"}' > "$tmp/package.json"
rm -rf "$out"
mv "$tmp" "$out"
echo "$out: $(du -sh "$out" | cut -f1)"
