#!/usr/bin/env bash
# Python packages the tests need: grpcio for the Python backend plugin
# (plugins/python), which proves the .proto, not gantry's Rust types, is the contract.
# Idempotent: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "setup-python: installing python3 and pip"
  apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null
fi
if "$PY" -c 'import grpc, grpc_tools, grpc_health' 2>/dev/null; then
  echo "setup-python: grpcio present"
  exit 0
fi
echo "setup-python: installing plugins/python/requirements.txt"
"$PY" -m pip install --quiet -r plugins/python/requirements.txt 2>/dev/null \
  || "$PY" -m pip install --quiet --break-system-packages -r plugins/python/requirements.txt
"$PY" -c 'import grpc, grpc_tools, grpc_health'
echo "setup-python: grpcio installed"
