#!/usr/bin/env bash
# Runs the official Engine.IO and Socket.IO protocol suites against yolk's test
# servers on port 3000 (the port the suites are written for), with the `ws`
# late-listener wrapper (spec/suites/ws-late-listener.cjs) loaded into mocha.
#
#   spec/suites/run.sh [options] [SUITES_DIR] [SUITE...]
#
# SUITES_DIR (or $YOLK_SUITES_DIR) holds checkouts made beforehand; this script
# fetches nothing from GitHub (it only runs `npm ci` in a suite that has no
# node_modules yet):
#   SUITES_DIR/engine.io-protocol/test-suite     socketio/engine.io-protocol, branch main (Engine.IO v4)
#   SUITES_DIR/engine.io-protocol-v3/test-suite  socketio/engine.io-protocol, branch v3
#   SUITES_DIR/socket.io-protocol/test-suite     socketio/socket.io-protocol, branch main (Socket.IO v5)
# $YOLK_SUITE_EIO4, $YOLK_SUITE_EIO3 and $YOLK_SUITE_SIO5 point at a test-suite
# folder elsewhere.
#
# SUITE: any of
#   eio4       Engine.IO v4 suite against eio-echo
#   eio3       Engine.IO v3 suite against eio-echo (which always accepts EIO=3)
#   sio-app    Socket.IO v5 suite against `yolk start --baseDir spec/app`
#   sio-suite  Socket.IO v5 suite against sio-suite (the same server in C)
# default: all four.
#
# Options:
#   --build-dir DIR  binaries from DIR (default $YOLK_BUILD_DIR, relative to the
#                    repository, else <repo>/build); a sanitizer build
#                    (-DYOLK_SANITIZE=ON) works: its reports count as failures
#   --runs N         run each suite N times (default 1)
#   --no-wrapper     run mocha without the wrapper (shows the client-side race)
#   --logs DIR       keep mocha's and the server's output there
#                    (default <build dir>/suites-logs)
#
# Prints one line per suite run with mocha's counts, the failures' titles, and
# a total line "protocol suites: N passed, N failed, N skipped". Exits 0 when
# nothing failed, 1 when a test failed, 2 when the run could not be set up.
#
# Port 3000: a server left behind by an interrupted run of this script (its
# pid file names the server and the script; the script is gone) is stopped
# first; anything else listening there, a run still going on included, is not
# touched: the script waits up to 30 s for it to go away, then gives up. The
# server it starts is stopped when it exits, however it exits.

set -u -o pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
wrapper="$repo/spec/suites/ws-late-listener.cjs"
port=3000
pidfile="${TMPDIR:-/tmp}/yolk-protocol-suites-$port.pid"

die() { echo "run.sh: $*" >&2; exit 2; }

# $YOLK_BUILD_DIR is relative to the repository root, as for spec/e2e
case ${YOLK_BUILD_DIR:-build} in
  /*) build_dir=$YOLK_BUILD_DIR ;;
  *) build_dir=$repo/${YOLK_BUILD_DIR:-build} ;;
esac
runs=1
use_wrapper=1
logs=
suites_dir=${YOLK_SUITES_DIR:-}
dir_given=0
selected=()
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --no-wrapper) use_wrapper=0; shift ;;
    --logs) logs=${2:?--logs needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    eio4|eio3|sio-app|sio-suite) selected+=("$1"); shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ "$dir_given" = 0 ] || die "unknown suite $1 (eio4, eio3, sio-app, sio-suite)"
       suites_dir=$1 dir_given=1; shift ;;
  esac
done
[ ${#selected[@]} -gt 0 ] || selected=(eio4 eio3 sio-app sio-suite)
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs takes a positive number"
build_dir=$(cd "$build_dir" 2>/dev/null && pwd) || die "no build directory $build_dir"
logs=${logs:-$build_dir/suites-logs}
mkdir -p "$logs" && logs=$(cd "$logs" && pwd) || die "cannot create $logs"
command -v node >/dev/null || die "node is needed"
command -v npm >/dev/null || die "npm is needed"

# ---- the suites ----------------------------------------------------------------------------

# suite_dir NAME: the test-suite folder for a suite, checked against what it must test.
suite_dir() {
  local var sub marker dir
  case $1 in
    eio4) var=YOLK_SUITE_EIO4 sub=engine.io-protocol marker='/engine.io/?EIO=4' ;;
    eio3) var=YOLK_SUITE_EIO3 sub=engine.io-protocol-v3 marker='/engine.io/?EIO=3' ;;
    sio-app|sio-suite) var=YOLK_SUITE_SIO5 sub=socket.io-protocol marker='/socket.io/?EIO=4' ;;
  esac
  dir=${!var:-}
  if [ -z "$dir" ]; then
    [ -n "$suites_dir" ] || die "where are the suites? give SUITES_DIR or set YOLK_SUITES_DIR (see --help)"
    dir=$suites_dir/$sub/test-suite
  fi
  [ -f "$dir/test-suite.js" ] || die "$1: no $dir/test-suite.js (see --help for the layout)"
  grep -qF "$marker" "$dir/test-suite.js" || die "$1: $dir/test-suite.js does not test $marker: wrong branch?"
  (cd "$dir" && pwd)
}

# The suites' own packages (mocha, chai, node-fetch, ws), from their lock files.
npm_install() {
  [ -f "$1/node_modules/mocha/bin/mocha" ] && [ -d "$1/node_modules/ws" ] && return 0
  echo "== npm ci in $1"
  (cd "$1" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi) \
    >"$logs/npm.log" 2>&1 || { cat "$logs/npm.log" >&2; die "npm could not install $1's packages"; }
}

# ---- the server on port 3000 ---------------------------------------------------------------

server_pid=

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
  fi
  wait "$server_pid" 2>/dev/null
  server_pid=
  rm -f "$pidfile"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  local old= owner=
  [ -f "$pidfile" ] && read -r old owner <"$pidfile"
  if [ -n "${old:-}" ] && kill -0 "$old" 2>/dev/null && ! kill -0 "${owner:-0}" 2>/dev/null; then
    case $(basename "$(readlink "/proc/$old/exe" 2>/dev/null)") in
      eio-echo|sio-suite|yolk)
        echo "== stopping pid $old, a server left behind by an earlier run"
        kill -TERM "$old" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$old" 2>/dev/null ;;
    esac
  fi
  for i in $(seq 300); do
    port_busy || return 0
    [ "$i" = 1 ] && echo "== port $port is in use; waiting up to 30 s for it to be freed"
    sleep 0.1
  done
  ss -ltnp "sport = :$port" >&2 2>/dev/null
  die "port $port is still in use by another program; stop it and run again"
}

# start_server NAME LOG
start_server() {
  local cmd
  case $1 in
    eio4|eio3) cmd=("$build_dir/eio-echo" --port "$port" --ping-interval 300 --ping-timeout 200
                    --max-payload 1000000 --cors-origin '*') ;;
    sio-app) cmd=("$build_dir/yolk" start --baseDir spec/app --port "$port") ;;
    sio-suite) cmd=("$build_dir/sio-suite" --port "$port") ;;
  esac
  [ -x "${cmd[0]}" ] || die "no ${cmd[0]}: build first (cmake --build build)"
  free_port
  (cd "$repo" && exec env -u YOLK_ENV "${cmd[@]}") >"$2" 2>&1 &
  server_pid=$!
  echo "$server_pid $$" >"$pidfile"
  for _ in $(seq 150); do
    port_busy && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$2" >&2
  die "$1: the server did not start listening on port $port"
}

sanitizer_report() { grep -Em1 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1"; }

# ---- run -----------------------------------------------------------------------------------

# count WORD LOG: mocha's "N passing" / "N failing" / "N pending", 0 if absent.
count() { local n; n=$(grep -Eo "^ +[0-9]+ $1" "$2" | tail -1 | grep -Eo '[0-9]+'); echo "${n:-0}"; }

describe() {
  case $1 in
    eio4) echo "Engine.IO v4 / eio-echo" ;;
    eio3) echo "Engine.IO v3 / eio-echo" ;;
    sio-app) echo "Socket.IO v5 / yolk start --baseDir spec/app" ;;
    sio-suite) echo "Socket.IO v5 / sio-suite" ;;
  esac
}

node_options=${NODE_OPTIONS:-}
if [ "$use_wrapper" = 1 ]; then
  node_options="--require $wrapper${node_options:+ $node_options}"
  mode="with the ws late-listener wrapper"
else
  mode="WITHOUT the wrapper"
fi
echo "== build $build_dir, $mode, $runs run(s) per suite, logs in $logs"

total_pass=0 total_fail=0 total_pending=0 status=0
for name in "${selected[@]}"; do
  dir=$(suite_dir "$name") || exit 2
  npm_install "$dir"
  rev=$(git -C "$dir" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
  sum_pass=0 sum_fail=0
  for run in $(seq "$runs"); do
    log=$logs/$name-$run.log
    server_log=$logs/$name-$run.server.log
    start_server "$name" "$server_log"
    (cd "$dir" && NODE_OPTIONS=$node_options YOLK_WS_LATE_LISTENER_LOG=1 \
       node node_modules/mocha/bin/mocha --reporter spec test-suite.js) >"$log" 2>&1
    rc=$?
    stop_server
    pass=$(count passing "$log") fail=$(count failing "$log") pending=$(count pending "$log")
    note=
    if [ "$rc" != 0 ] && [ "$fail" = 0 ]; then fail=1 note=" (mocha exited $rc; see $log)"; fi
    if report=$(sanitizer_report "$server_log"); then fail=$((fail + 1)) note="$note (server: $report)"; fi
    # the wrapper's own count: messages that plain ws would have dropped
    replayed=$(grep -Eo '[0-9]+ replayed' "$log" | grep -Eo '[0-9]+')
    [ -z "$replayed" ] || note="$note (wrapper replayed $replayed)"
    printf '%-56s run %d/%d: %3d passing, %d failing, %d pending%s\n' \
      "$(describe "$name") [$rev]" "$run" "$runs" "$pass" "$fail" "$pending" "$note"
    # the titles of the failed tests, from mocha's summary
    [ "$fail" = 0 ] || sed -n '/^ *[0-9]* failing/,$p' "$log" | grep -E '^ +[0-9]+\) |^ {5,}[^ ].*:$|Error' | head -20 | sed 's/^/      /'
    total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail)) total_pending=$((total_pending + pending))
    sum_pass=$((sum_pass + pass)) sum_fail=$((sum_fail + fail))
    [ "$fail" = 0 ] || status=1
  done
  [ "$runs" = 1 ] || printf '%-56s %d runs: %d passed, %d failed in all\n' "$(describe "$name")" "$runs" "$sum_pass" "$sum_fail"
done
echo "protocol suites: $total_pass passed, $total_fail failed, $total_pending skipped"
exit $status
