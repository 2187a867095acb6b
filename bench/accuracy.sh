#!/usr/bin/env bash
# The accuracy and speed comparison of issue 4: every recipe trained by
# nntrain and by PyTorch (bench/pytorch/train_pytorch.py) on the same data,
# one after the other, then a table of test accuracy and seconds per epoch.
#   bench/accuracy.sh                 # the full run: ~7 minutes on 2 quiet cores
#   EPOCHS=1 DATASETS=mnist MODELS=mnist_mlp bench/accuracy.sh   # a check
# Recipe (the tutorial's): EPOCHS (5) epochs, batch BATCH (32), Adam 1e-3,
# seed SEED (1), THREADS (2) threads for both; data/mnist (7,996/2,004 real digits)
# and data/fashion-mnist (60k/10k). Models: the three tutorial specs and the
# tutorial's MLP variants: L2(0.01) on the kernels, Dropout(0.5) after the
# hidden layer, BatchNormalization after the hidden Dense.
# Run on a quiet machine (nothing else busy: OpenMP threads spin, and a busy
# neighbour makes epochs 10-100x slower); needs scripts/install-bench-deps.sh
# and a build (NNTRAIN, default build/bin/nntrain). Raw outputs go to OUT
# (default: a new temporary directory), the table to stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EPOCHS="${EPOCHS:-5}"
BATCH="${BATCH:-32}"
THREADS="${THREADS:-2}"
SEED="${SEED:-1}"
DATASETS="${DATASETS:-mnist fashion-mnist}"
MODELS="${MODELS:-mnist_mlp mnist_cnn mnist_rnn mnist_mlp_l2 mnist_mlp_dropout mnist_mlp_bn}"
NNTRAIN="${NNTRAIN:-$ROOT/build/bin/nntrain}"
PYTHON="${PYTHON:-/usr/bin/python3}"
OUT="${OUT:-$(mktemp -d /tmp/nnserve-accuracy.XXXXXX)}"
mkdir -p "$OUT/specs"

[[ -x "$NNTRAIN" ]] || { echo "accuracy.sh: $NNTRAIN is missing (scripts/build.sh)" >&2; exit 1; }
"$PYTHON" -c "import torch, numpy, google.protobuf" 2>/dev/null ||
  { echo "accuracy.sh: PyTorch is missing (scripts/install-bench-deps.sh)" >&2; exit 1; }

# The tutorial's MLP variants, next to the three specs of models/.
cp models/mnist_mlp.textproto models/mnist_cnn.textproto \
   models/mnist_rnn.textproto "$OUT/specs/"
cat > "$OUT/specs/mnist_mlp_l2.textproto" <<'SPEC'
name: "mnist_mlp_l2"
layers { flatten {} }
layers { dense { units: 128 activation: ACTIVATION_RELU kernel_regularizer { l2: 0.01 } } }
layers { dense { units: 10 activation: ACTIVATION_SOFTMAX kernel_regularizer { l2: 0.01 } } }
SPEC
cat > "$OUT/specs/mnist_mlp_dropout.textproto" <<'SPEC'
name: "mnist_mlp_dropout"
layers { flatten {} }
layers { dense { units: 128 activation: ACTIVATION_RELU } }
layers { dropout { rate: 0.5 } }
layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } }
SPEC
cat > "$OUT/specs/mnist_mlp_bn.textproto" <<'SPEC'
name: "mnist_mlp_bn"
layers { flatten {} }
layers { dense { units: 128 } }
layers { batch_normalization {} }
layers { activation { activation: ACTIVATION_RELU } }
layers { dense { units: 10 activation: ACTIVATION_SOFTMAX } }
SPEC

for data in $DATASETS; do
  for model in $MODELS; do
    spec="$OUT/specs/$model.textproto"
    echo "accuracy.sh: $model on $data: nntrain" >&2
    "$NNTRAIN" --spec="$spec" --data="data/$data" --epochs="$EPOCHS" \
      --batch_size="$BATCH" --optimizer=adam --learning_rate=0.001 --seed="$SEED" \
      --threads="$THREADS" --json --out="$OUT/$data-$model.nnm" \
      > "$OUT/$data-$model.nntrain.jsonl"
    echo "accuracy.sh: $model on $data: pytorch" >&2
    "$PYTHON" bench/pytorch/train_pytorch.py --spec="$spec" --data="data/$data" \
      --epochs="$EPOCHS" --batch_size="$BATCH" --learning_rate=0.001 --seed="$SEED" \
      --threads="$THREADS" --json > "$OUT/$data-$model.pytorch.jsonl"
  done
done

"$PYTHON" - "$OUT" "$DATASETS" "$MODELS" "$EPOCHS" "$BATCH" "$THREADS" <<'PY'
import json, sys
out, datasets, models, epochs, batch, threads = sys.argv[1:]
def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
def steady(seconds):
    rest = seconds[1:] or seconds
    return sum(rest) / len(rest)
print(f"{epochs} epochs, batch {batch}, Adam 1e-3, {threads} threads; "
      "s/epoch: mean of the epochs after the first (training pass only)\n")
print("| data | model | nntrain test acc | PyTorch test acc | diff (points) "
      "| nntrain s/epoch | PyTorch s/epoch | speed-up |")
print("|---|---|---|---|---|---|---|---|")
for data in datasets.split():
    for model in models.split():
        ours = lines(f"{out}/{data}-{model}.nntrain.jsonl")
        theirs = lines(f"{out}/{data}-{model}.pytorch.jsonl")
        ours_done, theirs_done = ours[-1], theirs[-1]
        ours_s = steady([r["seconds"] for r in ours if "epoch" in r])
        theirs_s = theirs_done["mean_epoch_seconds_after_first"]
        a, b = ours_done["test_accuracy"] * 100, theirs_done["test_accuracy"] * 100
        print(f"| {data} | {model} | {a:.2f} % | {b:.2f} % | {a - b:+.2f} "
              f"| {ours_s:.3f} | {theirs_s:.3f} | {theirs_s / ours_s:.1f}x |")
print(f"\nraw outputs: {out}")
PY
