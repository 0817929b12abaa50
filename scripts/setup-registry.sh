#!/usr/bin/env bash
# A real container registry for the pull tests (idempotent): Debian's docker-registry
# (distribution 2.8) on 127.0.0.1:5000 with htpasswd auth, holding the local test image
# as 127.0.0.1:5000/gantry-test/busybox:1. Runs after setup-engines.sh.
#   user: gantry   password: gantry-registry-pass   (loopback only, test fixture)
set -euo pipefail

REG=127.0.0.1:5000
USER=gantry
PASS=gantry-registry-pass
DIR=/var/lib/gantry-registry
CONF=/etc/gantry/registry.yml

if ! command -v docker-registry >/dev/null || ! command -v htpasswd >/dev/null; then
  echo "setup-registry: installing docker-registry and apache2-utils"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry apache2-utils >/dev/null
fi

mkdir -p "$DIR/data" /etc/gantry
htpasswd -Bbc "$DIR/htpasswd" "$USER" "$PASS" >/dev/null 2>&1
cat > "$CONF" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
http:
  addr: $REG
auth:
  htpasswd:
    realm: gantry-test
    path: $DIR/htpasswd
YML

# Podman is told the registry is plain HTTP by setup-engines.sh (it reads that at start).

# shellcheck source=daemon.sh
. "$(dirname "$0")/daemon.sh"
stop_if_orphaned "docker-registry serve $CONF" || true
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$REG/v2/")" = 401 ]; }
if ! answers; then
  echo "setup-registry: starting docker-registry on $REG"
  (cd / && exec nohup docker-registry serve "$CONF" >/var/log/gantry-registry.log 2>&1 </dev/null) &
  for _ in $(seq 1 50); do answers && break; sleep 0.2; done
fi
answers || { echo "setup-registry: the registry does not answer on $REG (see /var/log/gantry-registry.log)" >&2; exit 1; }

# Docker treats loopback registries as insecure by default. A private config dir keeps
# the login out of the user's ~/.docker.
export DOCKER_CONFIG=$DIR/docker-config
mkdir -p "$DOCKER_CONFIG"
echo "$PASS" | docker login -u "$USER" --password-stdin "$REG" >/dev/null
if ! docker manifest inspect --insecure "$REG/gantry-test/busybox:1" >/dev/null 2>&1; then
  docker tag gantry-test/busybox:1 "$REG/gantry-test/busybox:1"
  docker push -q "$REG/gantry-test/busybox:1" >/dev/null
  docker rmi "$REG/gantry-test/busybox:1" >/dev/null
fi
echo "setup-registry: $REG/gantry-test/busybox:1 is served (user $USER)"
