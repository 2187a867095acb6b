#!/usr/bin/env bash
# One nntrain build against another, in alternating rounds (training
# changes made for speed, issue 22): each round trains every model at every
# batch size with the OLD build and the NEW one, one after the other (OLD
# first in odd rounds, NEW first in even ones, so a drift of the machine
# falls on both alike). A run's figure is its last epoch (the second of two
# by default: the first pays one-time set-up); the figure per case is the
# median over rounds of OLD s/epoch ÷ NEW s/epoch (above 1: NEW is
# faster), with the rounds' min-max. The last epoch's validation accuracy
# of each side is shown too (a speed change should not move it beyond
# rounding).
#
#   bench/nntrain_ab.sh OLD_BIN NEW_BIN [ROUNDS]
#     OLD_BIN, NEW_BIN  directories holding nntrain (e.g. a copy of build/bin
#                       made before a change, and build/bin); ROUNDS 5
# Environment: MODELS (mnist_cnn), BATCHES (32 128), EPOCHS (2), THREADS (2),
# DATA (data/mnist), MAX_TRAIN_EXAMPLES (0 = all; for checks). Adam 1e-3,
# seed 1. ONEDNN_MAX_CPU_ISA (exported by the caller) caps both sides alike.
# Quiet machine only (OpenMP threads spin; a busy neighbour makes epochs
# 10-100x slower).
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n '2,20p' "$0" >&2; exit 2; }
OLD="$1" NEW="$2" ROUNDS="${3:-5}"
MODELS="${MODELS:-mnist_cnn}"
BATCHES="${BATCHES:-32 128}"
EPOCHS="${EPOCHS:-2}"
THREADS="${THREADS:-2}"
DATA="${DATA:-data/mnist}"
MAX_TRAIN_EXAMPLES="${MAX_TRAIN_EXAMPLES:-0}"
for side in "$OLD" "$NEW"; do
  [[ -x "$side/nntrain" ]] || { echo "nntrain_ab.sh: no $side/nntrain" >&2; exit 1; }
done
[[ "$EPOCHS" -ge 1 && "$ROUNDS" -ge 1 ]] || { echo "nntrain_ab.sh: EPOCHS and ROUNDS must be >= 1" >&2; exit 2; }
subset=()
[[ "$MAX_TRAIN_EXAMPLES" -gt 0 ]] && subset=(--max_train_examples="$MAX_TRAIN_EXAMPLES")
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

run() {  # side model batch
  local bin="$OLD"
  [[ "$1" == new ]] && bin="$NEW"
  ONEDNN_VERBOSE=0 "$bin/nntrain" --spec="models/$2.textproto" --data="$DATA" --epochs="$EPOCHS" \
    --batch_size="$3" --optimizer=adam --learning_rate=0.001 --seed=1 --threads="$THREADS" \
    "${subset[@]}" --json --out="$WORK/$1.nnm" > "$WORK/r$round-$2-b$3.$1.jsonl"
}
for round in $(seq 1 "$ROUNDS"); do
  for model in $MODELS; do
    for batch in $BATCHES; do
      if (( round % 2 == 1 )); then run old "$model" "$batch"; run new "$model" "$batch"
      else run new "$model" "$batch"; run old "$model" "$batch"; fi
    done
  done
  echo "nntrain_ab.sh: round $round of $ROUNDS done" >&2
done
python3 - "$WORK" "$ROUNDS" "$MODELS" "$BATCHES" <<'PY'
import json, statistics, sys
work, rounds, models, batches = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def last_epoch(path):
    with open(path) as f:
        epochs = [r for r in (json.loads(l) for l in f if l.strip()) if "epoch" in r]
    if not epochs:
        sys.exit(f"nntrain_ab.sh: no epoch in {path}")
    return epochs[-1]["seconds"], epochs[-1].get("val_accuracy", float("nan"))
print("| model | batch | OLD s/epoch | NEW s/epoch | OLD ÷ NEW, median (min-max) | val. accuracy OLD / NEW |")
print("|---|---|---|---|---|---|")
for model in models.split():
    for batch in batches.split():
        old = [last_epoch(f"{work}/r{r}-{model}-b{batch}.old.jsonl") for r in range(1, rounds + 1)]
        new = [last_epoch(f"{work}/r{r}-{model}-b{batch}.new.jsonl") for r in range(1, rounds + 1)]
        ratios = [o[0] / n[0] for o, n in zip(old, new)]
        print(f"| {model} | {batch} | {statistics.median(o[0] for o in old):.3f} | "
              f"{statistics.median(n[0] for n in new):.3f} | {statistics.median(ratios):.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f}) | {old[-1][1]:.4f} / {new[-1][1]:.4f} |")
PY
