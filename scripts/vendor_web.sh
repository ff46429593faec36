#!/usr/bin/env bash
# Vendor the browser runtime of `explainer export-page` into explainer/webpage/vendor/:
# onnxruntime-web's single-file wasm build (ort.wasm.min.js), its wasm glue (.mjs) and its
# SIMD wasm binary, gzipped (the exported page unzips it in the browser). Run once when the
# pinned version changes (`make vendor-web`); the files are committed, so neither CI nor a
# user of `explainer export-page` ever fetches anything.
# Usage: scripts/vendor_web.sh            (ORT_WEB_VERSION=1.23.2 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${ORT_WEB_VERSION:-1.23.2}
DEST=explainer/webpage/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "onnxruntime-web@$VERSION" >/dev/null && tar xzf onnxruntime-web-*.tgz)
dist="$work/package/dist"
mkdir -p "$DEST"
cp "$dist/ort.wasm.min.js" "$dist/ort-wasm-simd-threaded.mjs" "$DEST/"
gzip -9 -n -c "$dist/ort-wasm-simd-threaded.wasm" >"$DEST/ort-wasm-simd-threaded.wasm.gz"
cat >"$DEST/LICENSE" <<TEXT
onnxruntime-web $VERSION (https://www.npmjs.com/package/onnxruntime-web), MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
TEXT
echo "$VERSION" >"$DEST/VERSION"
du -ch "$DEST"/* | tail -1
