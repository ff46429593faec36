#!/usr/bin/env bash
# Retrain every shipped model in models/ with the recipes recorded in their model cards.
# Needs the datasets (--data-dir / EXPLAINER_DATA_DIR, or a network to download them).
# Usage: scripts/train_models.sh [name ...]   (default: all; names as in models/, e.g. mnist_bn_cnn)
set -euo pipefail
cd "$(dirname "$0")/.."
EXPLAINER=${EXPLAINER:-.venv/bin/explainer}

declare -A RECIPE=(
  [mnist_fast_cnn]="fast_cnn --epochs 1 --batch-size 64 --lr 0.006"
  [mnist_linear]="linear --epochs 10 --batch-size 128 --lr 0.003"
  [mnist_mlp]="mlp --epochs 10 --batch-size 128 --lr 0.003"
  [mnist_tinyvgg]="tinyvgg --epochs 8 --batch-size 128 --lr 0.003"
  [mnist_bn_cnn]="bn_cnn --epochs 18 --batch-size 128 --lr 0.003 --weight-decay 0.0001 --augment --snapshot-epochs 0,1,2,5"
  [mnist_cnn3_fc3]="cnn3_fc3 --epochs 10 --batch-size 128 --lr 0.003 --augment"
  [mnist_basic_cnn]="basic_cnn --epochs 5 --batch-size 128 --lr 0.001"
  [fashion_mnist_bn_cnn]="bn_cnn --dataset fashion_mnist --epochs 10 --batch-size 128 --lr 0.003 --weight-decay 0.0001"
)
ORDER=(mnist_fast_cnn mnist_linear mnist_mlp mnist_tinyvgg mnist_bn_cnn mnist_cnn3_fc3 mnist_basic_cnn fashion_mnist_bn_cnn)

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ORDER[@]}")
for name in "${names[@]}"; do
  [ -n "${RECIPE[$name]:-}" ] || { echo "unknown model $name; known: ${ORDER[*]}" >&2; exit 2; }
  echo "== $name: explainer train ${RECIPE[$name]}"
  # shellcheck disable=SC2086
  "$EXPLAINER" train ${RECIPE[$name]} --out "models/$name.pt" --quiet
done
rm -f models/*.last.pt
