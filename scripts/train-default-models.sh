#!/usr/bin/env bash
# Trains the three tutorial models into a model repository unless they are
# there already (idempotent: does nothing when all three exist).
#   scripts/train-default-models.sh [REPO_DIR]     default models/repository
# For each of mnist_mlp, mnist_cnn, mnist_rnn missing REPO_DIR/<name>/1/model.nnm:
# build/bin/nntrain on data/mnist (the 7,996 real training digits; the 2,004
# test digits give the reported test accuracy), labels "0".."9", written
# atomically. Epochs are kept short so all three train in well under a minute
# on 2 cores: MLP and RNN 3, CNN 2 (see bench/README.md, "Default models",
# for the accuracy this gives). Environment: NNTRAIN (default
# build/bin/nntrain), THREADS (oneDNN threads, default 1: OpenMP threads spin,
# and beside any other busy process 2 threads were measured 10x slower than
# 1; 0 = one per core, for a quiet machine).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="${1:-$ROOT/models/repository}"
NNTRAIN="${NNTRAIN:-$ROOT/build/bin/nntrain}"
DATA="$ROOT/data/mnist"

declare -A EPOCHS=([mnist_mlp]=3 [mnist_cnn]=2 [mnist_rnn]=3)
missing=()
for name in mnist_mlp mnist_cnn mnist_rnn; do
  [[ -f "$REPO/$name/1/model.nnm" ]] || missing+=("$name")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ ! -x "$NNTRAIN" ]]; then
  echo "train-default-models: $NNTRAIN is missing; build first (scripts/build.sh)" >&2
  exit 1
fi
if [[ ! -f "$DATA/train-images-idx3-ubyte" && ! -f "$DATA/train-images-idx3-ubyte.gz" ]]; then
  echo "train-default-models: $DATA is missing; run scripts/prepare-data.sh" >&2
  exit 1
fi
for name in "${missing[@]}"; do
  mkdir -p "$REPO/$name/1"
  echo "train-default-models: training $name (${EPOCHS[$name]} epochs on $DATA)"
  "$NNTRAIN" --spec="$ROOT/models/$name.textproto" --data="$DATA" \
    --epochs="${EPOCHS[$name]}" --batch_size=32 --optimizer=adam \
    --learning_rate=0.001 --seed=1 --threads="${THREADS:-1}" \
    --labels=0,1,2,3,4,5,6,7,8,9 --out="$REPO/$name/1/model.nnm" | tail -n 1
done
