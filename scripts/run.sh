#!/usr/bin/env bash
# Sets everything up and serves: installs missing packages, prepares the data
# sets, builds, trains the three default models into models/repository if
# they are not there yet, then runs nnserve in the foreground on
# localhost:50051 (gRPC) and localhost:8080 (/metrics, /healthz, /readyz,
# /v2, and the web console: open http://localhost:8080/), with training
# enabled (loopback only, so no token is needed).
#
#   scripts/run.sh [nnserve flags...]     e.g. scripts/run.sh --port=50052
# Stop it with Ctrl-C (SIGINT): it drains and exits 0.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/prepare-data.sh"
"$ROOT/scripts/build.sh"
"$ROOT/scripts/train-default-models.sh" "$ROOT/models/repository"
cd "$ROOT"
exec build/bin/nnserve \
  --listen_address=127.0.0.1 --http_listen_address=127.0.0.1 \
  --model_repository=models/repository --data_dir=data \
  --enable_training --drain_grace=0s "$@"
