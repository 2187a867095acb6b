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

# Callgrind counts (bench/instructions.sh, bench/ceiling_instructions.sh).
# per_request and diff_functions divide by N2 - N1, the caller's two
# request counts (globals), so that what a run costs once cancels.

# total CALLGRIND_FILE: instructions counted in it.
total() {
  callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
# functions FILE: "inclusive-Ir function" lines, per function (summed over
# objects).
functions() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    sed -nE 's/^ *([0-9,]+) \( *[0-9.]+%\)  (.*) \[[^]]*\]$/\1\t\2/p' |
    awk -F '\t' '{ gsub(",", "", $1); sum[$2] += $1 }
      END { for (f in sum) print sum[f] "\t" f }'
}
# per_request FILE1 FILE2: whole-process instructions per request.
per_request() {
  awk -v a="$(total "$1")" -v b="$(total "$2")" -v d=$((N2 - N1)) \
    'BEGIN { printf "%.0f", (b - a) / d }'
}
# diff_functions FILE1 FILE2: "per-request inclusive-Ir function" lines,
# costliest first.
diff_functions() {
  join -t $'\t' -j 2 -a 2 -e 0 -o 0,1.1,2.1 \
    <(functions "$1" | sort -t $'\t' -k 2) <(functions "$2" | sort -t $'\t' -k 2) |
    awk -F '\t' -v d=$((N2 - N1)) '{ printf "%.0f\t%s\n", ($3 - $2) / d, $1 }' |
    sort -t $'\t' -k 1,1nr
}
