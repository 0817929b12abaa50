#!/usr/bin/env bash
# Installs and starts the container engines the tests use, idempotently (no systemd here):
# Docker Engine on /var/run/docker.sock, Podman's Docker-compatible API on
# /run/gantry-podman.sock, and the local test image gantry-test/busybox:1 in both (built
# from busybox-static: nothing is pulled from a registry). See shared ENVIRONMENT notes.
set -euo pipefail

say() { echo "setup-engines: $*"; }
# shellcheck source=daemon.sh
. "$(dirname "$0")/daemon.sh"
need_root() { if [ "$(id -u)" -ne 0 ]; then say "must run as root to install and start engines"; exit 1; fi; }

wait_for() { # wait_for SECONDS CMD...
  local limit=$1; shift
  for _ in $(seq 1 $((limit * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  need_root
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

DOCKER_SOCK=/var/run/docker.sock
if ! curl -sf --unix-socket "$DOCKER_SOCK" http://localhost/_ping >/dev/null 2>&1; then
  need_root
  say "starting dockerd"
  # Daemons start from / so they outlive the checkout that started them (conmon fails
  # every container once its inherited working directory is gone).
  (cd / && exec nohup dockerd >/var/log/gantry-dockerd.log 2>&1 </dev/null) &
  if ! wait_for 60 curl -sf --unix-socket "$DOCKER_SOCK" http://localhost/_ping; then
    say "dockerd did not answer within 60s; last log lines:"; tail -20 /var/log/gantry-dockerd.log; exit 1
  fi
fi
say "docker answers on $DOCKER_SOCK"

# Podman's defaults fail in this VM (crun and cgroups, ulimits above the hard limits).
CONF=/etc/containers/containers.conf
if ! grep -q 'gantry-setup' "$CONF" 2>/dev/null; then
  need_root
  mkdir -p /etc/containers
  cat > "$CONF" <<'CONF'
# gantry-setup: Podman settings that work on these VMs
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
CONF
  say "wrote $CONF"
fi
# The test registry (scripts/setup-registry.sh) serves plain HTTP on loopback.
REGCONF=/etc/containers/registries.conf.d/gantry-test.conf
RESTART_PODMAN=
if [ ! -f "$REGCONF" ]; then
  mkdir -p "$(dirname "$REGCONF")"
  printf '[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n' > "$REGCONF"
  say "wrote $REGCONF"
  RESTART_PODMAN=1
fi
PODMAN_SOCK=/run/gantry-podman.sock
# A service started from a checkout deleted since fails every container start.
if stop_if_orphaned "podman system service --time=0 unix://$PODMAN_SOCK"; then RESTART_PODMAN=1; fi
if [ -n "$RESTART_PODMAN" ]; then
  pkill -f "podman system service --time=0 unix://$PODMAN_SOCK" 2>/dev/null || true
  sleep 0.5
fi
if ! curl -sf --unix-socket "$PODMAN_SOCK" http://localhost/_ping >/dev/null 2>&1; then
  need_root
  say "starting podman system service"
  rm -f "$PODMAN_SOCK"
  (cd / && exec nohup podman system service --time=0 "unix://$PODMAN_SOCK" >/var/log/gantry-podman.log 2>&1 </dev/null) &
  if ! wait_for 60 curl -sf --unix-socket "$PODMAN_SOCK" http://localhost/_ping; then
    say "podman did not answer within 60s"; tail -20 /var/log/gantry-podman.log; exit 1
  fi
fi
say "podman answers on $PODMAN_SOCK"

IMAGE=gantry-test/busybox:1
rootfs_tar() {
  local dir; dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc" "$dir/root"
  cp "$(command -v busybox)" "$dir/bin/busybox"
  for applet in $("$dir/bin/busybox" --list); do [ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/etc/passwd"
  echo 'root:x:0:' > "$dir/etc/group"
  chmod 1777 "$dir/tmp"
  tar -C "$dir" -c .
  rm -rf "$dir"
}
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "importing $IMAGE into docker"
  rootfs_tar | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
fi
if ! podman image exists "$IMAGE" 2>/dev/null; then
  say "importing $IMAGE into podman"
  rootfs_tar | podman import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null 2>&1
fi
WEB=gantry-test/web:1   # a service image: busybox httpd serving /etc on :8080
if ! docker image inspect "$WEB" >/dev/null 2>&1; then
  say "importing $WEB into docker"
  rootfs_tar | docker import -c 'ENV PATH=/bin' -c 'CMD ["httpd","-f","-p","8080","-h","/etc"]' - "$WEB" >/dev/null
fi
if ! podman image exists "$WEB" 2>/dev/null; then
  say "importing $WEB into podman"
  rootfs_tar | podman import -c 'ENV PATH=/bin' -c 'CMD ["httpd","-f","-p","8080","-h","/etc"]' - "$WEB" >/dev/null 2>&1
fi
say "test images $IMAGE and $WEB present in docker and podman"
