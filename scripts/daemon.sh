# Sourced by the setup scripts. A daemon whose working directory was deleted (it was
# started from a checkout removed since) still answers health checks but fails real work:
# conmon cannot start containers, s3s-fs answers 500. stop_if_orphaned PATTERN stops every
# process whose command line matches PATTERN and whose cwd is gone, and says so; it
# returns 0 when it stopped one, so the caller starts a fresh daemon.
stop_if_orphaned() {
  local stopped=1 pid
  for pid in $(pgrep -f "$1" || true); do
    case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in
      *" (deleted)")
        echo "$(basename "$0"): '$1' (pid $pid) lost its working directory: restarting it"
        kill "$pid" 2>/dev/null || true
        stopped=0 ;;
    esac
  done
  [ "$stopped" = 0 ] && sleep 0.5
  return "$stopped"
}
