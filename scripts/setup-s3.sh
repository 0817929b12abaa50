#!/usr/bin/env bash
# An S3-compatible server on loopback for the artifact tests: s3s-fs (Rust, in-process S3
# over a folder) on 127.0.0.1:9000 with SigV4 auth, bucket `gantry-test`.
# Credentials: access key gantry-test, secret gantry-test-secret.
# Idempotent: installs s3s-fs once, starts it when nothing answers on the port.
set -euo pipefail

PORT=9000
ROOT=/var/lib/gantry-s3
LOG=/var/log/gantry-s3.log

if ! command -v s3s-fs >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/s3s-fs" ]; then
  echo "setup-s3: installing s3s-fs 0.14.1 (0.17 needs rustc 1.96)"
  cargo install --locked s3s-fs --version 0.14.1 --features binary
fi
S3S="$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")"

mkdir -p "$ROOT/gantry-test"
# shellcheck source=daemon.sh
. "$(dirname "$0")/daemon.sh"
stop_if_orphaned "s3s-fs --host 127.0.0.1 --port $PORT" || true
if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then
  echo "setup-s3: something already answers on 127.0.0.1:$PORT"
  exit 0
fi
echo "setup-s3: starting s3s-fs on 127.0.0.1:$PORT"
(cd / && exec nohup setsid "$S3S" --host 127.0.0.1 --port "$PORT" \
  --access-key gantry-test --secret-key gantry-test-secret "$ROOT" >"$LOG" 2>&1 </dev/null) &
for _ in $(seq 1 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then
    echo "setup-s3: s3s-fs answers on 127.0.0.1:$PORT (bucket gantry-test)"
    exit 0
  fi
  sleep 0.2
done
echo "setup-s3: s3s-fs did not start; see $LOG" >&2
exit 1
