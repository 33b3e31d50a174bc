# bench/cpuclock.sh — CPU time of a fuzzer's processes, for budgets that do not depend on the
# load of a shared machine (sourced by bench/trial.sh and bench/run.sh; bench/README.md, "The clock").

CPUCLOCK_TICK=${CPUCLOCK_TICK:-$(getconf CLK_TCK)}
CPUCLOCK_PROC=${CPUCLOCK_PROC:-/proc}   # another directory of <pid>/stat files: bench/tests/cpu_clock.sh

# tree_cpu PID: prints "CPU-seconds pid..." of PID and its live descendants: utime + stime of each,
# plus cutime + cstime (the children each has reaped: AFL++'s forkserver reaps every execution).
# A pid is field 1 of its stat line; the fields after the last ") " (the end of the command
# name, which may itself hold ") ") start with the state, then the ppid.
tree_cpu() {
    cat "$CPUCLOCK_PROC"/[0-9]*/stat 2>/dev/null | awk -v root="$1" -v tick="$CPUCLOCK_TICK" '
        { i = index($0, ") "); j = i; while (j > 0) { i = j; k = index(substr($0, i + 2), ") "); j = k ? i + 1 + k : 0 }
          n = split(substr($0, i + 2), f, " "); if (n < 15) next
          pp[$1] = f[2]; c[$1] = f[12] + f[13] + f[14] + f[15] }
        END { t[root] = 1; more = 1
              while (more) { more = 0; for (p in pp) if (!(p in t) && (pp[p] in t)) { t[p] = 1; more = 1 } }
              s = 0; l = ""; for (p in t) if (p in c) { s += c[p]; if (p != root) l = l " " p }
              printf "%.2f%s\n", s / tick, l }'
}

# cpu_of FILE: the user + system seconds bash's time (TIMEFORMAT='%3U %3S') wrote to FILE; 0 without one
cpu_of() { awk '{ s = $1 + $2 } END { printf "%.2f", s + 0 }' "$1" 2>/dev/null || echo 0; }

# cpu_watch PID BUDGET WALL_LIMIT: waits for the background job PID (a subshell running the fuzzer);
# once its processes have used BUDGET CPU seconds, or WALL_LIMIT wall seconds have passed, stops
# them with SIGINT (libFuzzer and afl-fuzz print their final statistics and exit on it)
cpu_watch() {
    local pid=$1 budget=$2 limit=$3 t0 r c kids stopped=0
    t0=$(date +%s)
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        [[ $stopped -eq 0 ]] || continue
        r=$(tree_cpu "$pid")
        c=${r%% *} kids=${r#"$c"}
        if awk -v c="$c" -v b="$budget" 'BEGIN { exit !(c >= b) }' || [[ $(($(date +%s) - t0)) -ge $limit ]]; then
            # shellcheck disable=SC2086
            [[ -n ${kids// /} ]] && kill -INT $kids 2>/dev/null
            stopped=1
        fi
    done
    wait "$pid"
}
