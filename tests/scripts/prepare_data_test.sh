#!/usr/bin/env bash
# prepare-data.sh: a second run does no work; a damaged output file is
# detected and re-created; a damaged source is a loud failure.
# Works on a copy of data/ so the real data is never touched.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# -L: in a git worktree data/ is a symlink, which plain -r would copy as a
# link, and the damage below would land in the real data.
cp -rL "$ROOT/data" "$TMP/data"
export NNSERVE_DATA_DIR="$TMP/data"

# 1. Already prepared: verifies only, writes nothing.
before="$(find "$TMP/data" -type f -printf '%p %T@\n' | sort)"
out="$("$ROOT/scripts/prepare-data.sh")"
after="$(find "$TMP/data" -type f -printf '%p %T@\n' | sort)"
[[ "$before" == "$after" ]] || fail "second run modified files"
grep -q "checksums verified" <<<"$out" || fail "no verification message: $out"

# 2. A flipped byte in an output file is detected and repaired.
printf '\xff' | dd of="$TMP/data/mnist/train-images-idx3-ubyte" bs=1 seek=5000 conv=notrunc status=none
out="$("$ROOT/scripts/prepare-data.sh")"
grep -q "mnist/train-images-idx3-ubyte is damaged" <<<"$out" || fail "damage not reported: $out"
(cd "$TMP/data" && sha256sum --quiet -c "$ROOT/scripts/data.sha256") || fail "not repaired"

# 3. A truncated Fashion-MNIST file with a truncated source is an error.
mkdir "$TMP/src"
for f in /usr/share/datasets/fashion-mnist/*.gz; do cp "$f" "$TMP/src/"; done
head -c 1000 "$TMP/src/train-labels-idx1-ubyte.gz" > "$TMP/src/x" && mv "$TMP/src/x" "$TMP/src/train-labels-idx1-ubyte.gz"
truncate -s 100 "$TMP/data/fashion-mnist/train-labels-idx1-ubyte.gz"
if FASHION_MNIST_SRC="$TMP/src" "$ROOT/scripts/prepare-data.sh" 2>"$TMP/err"; then
  fail "corrupt source accepted"
fi
grep -q "truncated or corrupt" "$TMP/err" || fail "unclear error: $(cat "$TMP/err")"
echo "prepare_data_test: 3 passed, 0 failed"
