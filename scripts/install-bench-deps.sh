#!/usr/bin/env bash
# Optional: what the training comparison (bench/pytorch/, bench/accuracy.sh)
# needs besides the build. Not part of install-deps.sh: serving and the tests
# do not need PyTorch.
#   python3-torch       PyTorch for Debian's /usr/bin/python3
#   libopenblas0-openmp an optimised BLAS: without it Debian's torch uses the
#                       reference BLAS and is 3-6x slower
#   python3-protobuf    lets the PyTorch script read models/*.textproto
#   python3-numpy       IDX decoding
#   protobuf-compiler   generates model_pb2.py from proto/ at run time
set -euo pipefail
PACKAGES=(python3-torch libopenblas0-openmp python3-protobuf python3-numpy
          protobuf-compiler)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
