#!/usr/bin/env bash
# Render the README gallery into animations/: one GIF per animation kind (each <= 2 MB,
# 800x450 so it reads at README width), the architecture comparison chart and the interactive
# page (animations/page/index.html, see docs/how-to/publish-a-web-page.md).
# Usage: scripts/make_gallery.sh            (MODEL=mnist_bn_cnn DIGIT=7 PACE=class by default)
#        MODEL=mnist_fast_cnn scripts/make_gallery.sh
#        PACE=readme scripts/make_gallery.sh   (short loops instead of the classroom pace)
# The full test set (--data-dir / EXPLAINER_DATA_DIR) gives the mistakes reel more to show;
# without it the 500 bundled test digits are used.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPLAINER=${EXPLAINER:-.venv/bin/explainer}
MODEL=${MODEL:-mnist_bn_cnn}
DIGIT=${DIGIT:-7}
PACE=${PACE:-class}
OUT=${OUT:-animations}
mkdir -p "$OUT"

render() {  # KIND [options...]
  local kind=$1; shift
  echo "== $OUT/$kind.gif"
  "$EXPLAINER" render "$kind" --checkpoint "$MODEL" --pace "$PACE" --out "$OUT/$kind.gif" "$@"
}

render forward --digit "$DIGIT"
render dataflow --digit "$DIGIT"
render convolution --digit "$DIGIT"
if ls models/snapshots/"$MODEL"_epoch*.pt >/dev/null 2>&1; then
  render training --digit "$DIGIT"
else
  echo "== skipping $OUT/training.gif: no models/snapshots/${MODEL}_epochNN.pt (make models)"
fi
render mistakes

# the interactive page (explainer export-page): open $OUT/page/index.html in a browser
echo "== $OUT/page/index.html"
"$EXPLAINER" export-page --model "$MODEL" --out "$OUT/page"

# the architecture comparison chart (explainer compare)
if "$EXPLAINER" compare --help >/dev/null 2>&1; then
  echo "== $OUT/architectures.png"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$EXPLAINER" compare --out "$tmp" >/dev/null
  cp "$tmp/compare.png" "$OUT/architectures.png"
fi

# Manim scenes (scenes/): an MP4 of each and a small GIF for the README (MANIM=0 skips them)
if [ "${MANIM:-1}" = 1 ]; then
  echo "== $OUT/manim_*.mp4 + .gif"
  "${PYTHON:-.venv/bin/python}" -m explainer.scenes.render --out "$OUT" --quality "${MANIM_QUALITY:-low}" \
    --gif-fps 4 --gif-width 440
fi

# every GIF must stay under 2 MB to embed well in a README
status=0
for f in "$OUT"/*.gif; do
  size=$(stat -c %s "$f")
  printf '%-32s %6d kB\n' "$f" $((size / 1000))
  if [ "$size" -gt 2000000 ]; then echo "  $f is over 2 MB" >&2; status=1; fi
done
exit $status
