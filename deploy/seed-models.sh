#!/bin/sh
# nnserve-seed-models SRC DST: copies each model directory SRC/<model>/ to
# DST/<model>/ unless DST already has a model of that name. Installed in the
# image as /usr/local/bin/nnserve-seed-models; the Kubernetes init container
# runs it to put the image's default models on the shared repository volume.
#
# - Models already in DST are never touched: versions trained there, or
#   removed from there, stay as they are.
# - Atomic per model: copied into a hidden DST/.seed-<model>.XXXXXX (the
#   server ignores names starting with "."), then renamed into place; replicas
#   that start together race harmlessly (the loser discards its copy).
# - POSIX sh and coreutils only (the runtime image has no bash).
# Exit status: 0 on success, 1 on a usage error or a failed copy.
set -eu

if [ "$#" -ne 2 ] || [ ! -d "$1" ] || [ ! -d "$2" ]; then
  echo "usage: nnserve-seed-models SRC_REPOSITORY DST_REPOSITORY (both existing directories)" >&2
  exit 1
fi
src=$1
dst=$2

for dir in "$src"/*/; do
  [ -d "$dir" ] || continue  # SRC is empty
  model=$(basename "$dir")
  case "$model" in .*) continue ;; esac
  if [ -e "$dst/$model" ]; then
    echo "seed-models: $model: already in $dst, kept"
    continue
  fi
  tmp=$(mktemp -d "$dst/.seed-$model.XXXXXX")
  if ! cp -R "$dir." "$tmp/"; then
    rm -rf "$tmp"
    echo "seed-models: $model: copy failed" >&2
    exit 1
  fi
  chmod 0755 "$tmp"  # mktemp makes it 0700
  # mv -T: rename onto DST/<model> only if it does not exist by now.
  if mv -T "$tmp" "$dst/$model" 2>/dev/null && [ ! -e "$tmp" ]; then
    echo "seed-models: $model: copied to $dst"
  else
    rm -rf "$tmp"
    echo "seed-models: $model: another replica seeded it first, kept"
  fi
done
