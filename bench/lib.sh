# Shell helpers shared by the bench/ scripts (sourced, not run).

# wait_for_port FILE SECONDS [PID] [POLL]: prints the port a server wrote to
# FILE once the file is non-empty (nnserve writes it when it serves);
# returns 1 after SECONDS, or at once if process PID (when given, may be
# empty) has exited. Checks every POLL seconds (default 0.05).
wait_for_port() {
  local file="$1" pid="${3:-}" poll="${4:-0.05}" i tries
  tries=$(awk -v s="$2" -v p="$poll" 'BEGIN { printf "%d", s / p }')
  for (( i = 0; i < tries; i++ )); do
    if [[ -s "$file" ]]; then cat "$file"; return 0; fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep "$poll"
  done
  return 1
}

# work_dir_with_server_cleanup: sets WORK to a fresh temporary directory and
# PID to "" (the caller stores the server it starts there), and arranges
# that on exit the server gets SIGTERM, every child is waited for and WORK
# is removed.
work_dir_with_server_cleanup() {
  WORK="$(mktemp -d)"
  PID=""
  trap 'if [[ -n "$PID" ]]; then kill -TERM "$PID" 2>/dev/null || true; fi
        wait 2>/dev/null || true
        rm -rf "$WORK"' EXIT
}
