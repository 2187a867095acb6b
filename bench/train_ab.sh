#!/usr/bin/env bash
# Training speed, nntrain vs PyTorch, in alternating rounds (issue 22: ≥ 2x
# per epoch for every tutorial model at batch 32 and 128). Each round trains
# every model at every batch size with both, one after the other (PyTorch
# first in odd rounds, nntrain first in even ones, so a drift of the machine
# over minutes falls on both sides alike); a run's figure is its last epoch
# (the second of two by default: the first pays one-time set-up). The
# figure per case is the median over rounds of PyTorch s/epoch ÷ nntrain
# s/epoch (above 2: the goal is met), with the rounds' min-max.
#
#   bench/train_ab.sh [ROUNDS]            default 3 (about 6 minutes)
# Environment: MODELS (mnist_mlp mnist_cnn mnist_rnn), BATCHES (32 128),
# EPOCHS (2), THREADS (2, both sides), DATA (data/mnist: 7,996 real training
# digits), MAX_TRAIN_EXAMPLES (0 = all; for checks), NNTRAIN, PYTHON, OUT.
# Adam 1e-3, seed 1, the same IDX files and spec on both sides.
# ONEDNN_MAX_CPU_ISA=AVX2 (exported by the caller) measures the AVX2 code
# on an AVX-512 machine, on both sides: PyTorch's convolutions run on its
# own oneDNN (which reads the same variable), and for its matrix products
# (OpenBLAS) and ATen kernels the script then also sets OPENBLAS_CORETYPE=
# Haswell and ATEN_CPU_CAPABILITY=avx2 unless they are set. The table's
# header names the ISA oneDNN ran and those settings.
# Quiet machine only: OpenMP threads spin, a busy neighbour makes epochs
# 10-100x slower. Needs scripts/install-bench-deps.sh and a build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${1:-3}"
MODELS="${MODELS:-mnist_mlp mnist_cnn mnist_rnn}"
BATCHES="${BATCHES:-32 128}"
EPOCHS="${EPOCHS:-2}"
THREADS="${THREADS:-2}"
DATA="${DATA:-data/mnist}"
MAX_TRAIN_EXAMPLES="${MAX_TRAIN_EXAMPLES:-0}"
NNTRAIN="${NNTRAIN:-$ROOT/build/bin/nntrain}"
PYTHON="${PYTHON:-/usr/bin/python3}"
OUT="${OUT:-$(mktemp -d /tmp/nnserve-train-ab.XXXXXX)}"
mkdir -p "$OUT"

[[ -x "$NNTRAIN" ]] || { echo "train_ab.sh: $NNTRAIN is missing (scripts/build.sh)" >&2; exit 1; }
"$PYTHON" -c "import torch, numpy, google.protobuf" 2>/dev/null ||
  { echo "train_ab.sh: PyTorch is missing (scripts/install-bench-deps.sh)" >&2; exit 1; }
[[ "$EPOCHS" -ge 1 && "$ROUNDS" -ge 1 ]] || { echo "train_ab.sh: EPOCHS and ROUNDS must be >= 1" >&2; exit 2; }

subset_nntrain=() subset_pytorch=()
if [[ "$MAX_TRAIN_EXAMPLES" -gt 0 ]]; then
  subset_nntrain=(--max_train_examples="$MAX_TRAIN_EXAMPLES")
  subset_pytorch=(--subset="$MAX_TRAIN_EXAMPLES")
fi

run_nntrain() {  # model batch output
  ONEDNN_VERBOSE=0 "$NNTRAIN" --spec="models/$1.textproto" --data="$DATA" --epochs="$EPOCHS" \
    --batch_size="$2" --optimizer=adam --learning_rate=0.001 --seed=1 \
    --threads="$THREADS" "${subset_nntrain[@]}" --json --out="$OUT/$1.nnm" > "$3"
}
run_pytorch() {  # model batch output
  "$PYTHON" bench/pytorch/train_pytorch.py --spec="models/$1.textproto" --data="$DATA" \
    --epochs="$EPOCHS" --batch_size="$2" --learning_rate=0.001 --seed=1 \
    --threads="$THREADS" "${subset_pytorch[@]}" --json > "$3"
}

if [[ "${ONEDNN_MAX_CPU_ISA:-}" == AVX2 ]]; then
  export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
  export ATEN_CPU_CAPABILITY="${ATEN_CPU_CAPABILITY:-avx2}"
fi

for round in $(seq 1 "$ROUNDS"); do
  for model in $MODELS; do
    for batch in $BATCHES; do
      base="$OUT/r$round-$model-b$batch"
      if (( round % 2 == 1 )); then
        run_pytorch "$model" "$batch" "$base.pytorch.jsonl"
        run_nntrain "$model" "$batch" "$base.nntrain.jsonl"
      else
        run_nntrain "$model" "$batch" "$base.nntrain.jsonl"
        run_pytorch "$model" "$batch" "$base.pytorch.jsonl"
      fi
    done
  done
  echo "train_ab.sh: round $round of $ROUNDS done" >&2
done

# The ISA oneDNN dispatches to, as its verbose mode names it.
ISA="$(ONEDNN_VERBOSE=1 "$NNTRAIN" --spec=models/mnist_mlp.textproto --data="$DATA" --epochs=1 \
  --batch_size=32 --max_train_examples=32 --out="$OUT/isa-probe.nnm" 2>&1 |
  sed -n 's/.*,cpu,isa:\(.*\)$/\1/p' | head -n 1)"
"$PYTHON" - "$OUT" "$ROUNDS" "$MODELS" "$BATCHES" "$EPOCHS" "$THREADS" "$DATA" \
  "${ISA:-unknown} (ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-unset}; PyTorch: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-unset})" <<'PY'
import json, statistics, sys
out, rounds, models, batches, epochs, threads, data, isa = sys.argv[1:]
def last_epoch_seconds(path):
    with open(path) as f:
        epochs_seen = [json.loads(l) for l in f if l.strip()]
    seconds = [r["seconds"] for r in epochs_seen if "epoch" in r]
    if not seconds:
        sys.exit(f"train_ab.sh: no epoch in {path}")
    return seconds[-1]
print(f"{data}, {epochs} epochs (the last one timed), Adam 1e-3, seed 1, "
      f"{threads} threads each, {rounds} alternating rounds; oneDNN ran {isa}\n")
print("| model | batch | nntrain s/epoch | PyTorch s/epoch | PyTorch ÷ nntrain, median (min-max) |")
print("|---|---|---|---|---|")
for model in models.split():
    for batch in batches.split():
        ours, theirs, ratios = [], [], []
        for r in range(1, int(rounds) + 1):
            base = f"{out}/r{r}-{model}-b{batch}"
            o = last_epoch_seconds(base + ".nntrain.jsonl")
            t = last_epoch_seconds(base + ".pytorch.jsonl")
            ours.append(o); theirs.append(t); ratios.append(t / o)
        print(f"| {model} | {batch} | {statistics.median(ours):.3f} | "
              f"{statistics.median(theirs):.3f} | {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f}) |")
print(f"\nraw outputs: {out}")
PY
