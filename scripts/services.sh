#!/usr/bin/env bash
# Throwaway servers for the tests that need them: a Milvus Lite gRPC server and a PostgreSQL
# cluster, both on loopback, in temporary folders, removed afterwards.
#
#   bash scripts/services.sh run -- CMD [ARGS...]    start both, export their URIs, run CMD,
#                                                     stop both, exit with CMD's exit code
#   bash scripts/services.sh run --postgres-only -- CMD   (or --milvus-only)
#
# Exported to CMD:
#   KEFU_TEST_MILVUS_URI    http://127.0.0.1:PORT       (tests make their own collections in it)
#   KEFU_TEST_POSTGRES_URL  postgresql+psycopg://kefu@127.0.0.1:PORT/kefu  (tests make their own databases)
#
# What is missing is installed: milvus-lite into the Python given by KEFU_SERVICES_PYTHON
# (default: .venv/bin/python of this checkout, created when missing), and Debian's
# postgresql package with apt when no /usr/lib/postgresql/*/bin/initdb exists (root only).
# PostgreSQL refuses to run as root, so as root its binaries run as user postgres.
[[ ${BASH_SOURCE[0]} == "$0" ]] && set -euo pipefail

case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac  # runuser, useradd
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SVC_PY="${KEFU_SERVICES_PYTHON:-$ROOT/.venv/bin/python}"
SVC_TMP="${KEFU_SERVICES_TMP:-/tmp}"  # must be traversable by user postgres; keep it short (socket path)
SVC_PG_DIR="" SVC_PG_BIN="" SVC_MV_DIR="" SVC_MV_PID="" SVC_CHILD=""

svc_log() { echo "[services] $*" >&2; }

svc_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

svc_wait_tcp() {  # PORT TIMEOUT_S [PID]: 0 once the port accepts, 1 on timeout or when PID died
  local port=$1 end=$((SECONDS + $2)) pid=${3:-}
  while ((SECONDS < end)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# ------------------------------------------------------------------ PostgreSQL
svc_pg_find_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [[ -n $d && -x $d/initdb ]] && echo "$d"
}

svc_pg_install() {
  SVC_PG_BIN=$(svc_pg_find_bin || true)
  [[ -n $SVC_PG_BIN ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    svc_log "PostgreSQL is not installed: sudo apt-get install postgresql"; return 1
  fi
  svc_log "PostgreSQL not found: installing Debian's postgresql"
  # Do not let the package create and start its own cluster on port 5432.
  mkdir -p /etc/postgresql-common
  grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
    echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  SVC_PG_BIN=$(svc_pg_find_bin)
}

svc_as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

svc_pg_start() {
  svc_pg_install
  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  fi
  SVC_PG_DIR=$(mktemp -d "$SVC_TMP/kpg.XXXXXX")
  mkdir -p "$SVC_PG_DIR/data" "$SVC_PG_DIR/s"
  [[ $(id -u) -eq 0 ]] && chown -R postgres: "$SVC_PG_DIR"
  local port t0=$SECONDS
  port=$(svc_free_port)
  svc_as_pg "$SVC_PG_BIN/initdb" -D "$SVC_PG_DIR/data" -U kefu --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$SVC_PG_DIR/initdb.log" 2>&1 || { cat "$SVC_PG_DIR/initdb.log" >&2; return 1; }
  # Durability is not what a throwaway test cluster is for.
  svc_as_pg "$SVC_PG_BIN/pg_ctl" -D "$SVC_PG_DIR/data" -l "$SVC_PG_DIR/pg.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $SVC_PG_DIR/s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$SVC_PG_DIR/pg.log" >&2; return 1; }
  until "$SVC_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; do sleep 0.1; done
  "$SVC_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U kefu kefu
  export KEFU_TEST_POSTGRES_URL="postgresql+psycopg://kefu@127.0.0.1:$port/kefu"
  svc_log "PostgreSQL $("$SVC_PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port in $((SECONDS - t0)) s"
}

svc_pg_stop() {
  [[ -n $SVC_PG_DIR && -d $SVC_PG_DIR ]] || return 0
  if [[ -f $SVC_PG_DIR/data/postmaster.pid ]]; then
    svc_as_pg "$SVC_PG_BIN/pg_ctl" -D "$SVC_PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || {
      local pid
      pid=$(head -1 "$SVC_PG_DIR/data/postmaster.pid" 2>/dev/null || true)
      [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
    }
  fi
  rm -rf "$SVC_PG_DIR"
  SVC_PG_DIR=""
  svc_log "PostgreSQL stopped"
}

# ------------------------------------------------------------------ Milvus Lite
svc_milvus_install() {
  if [[ ! -x $SVC_PY ]]; then
    svc_log "creating $(dirname "$(dirname "$SVC_PY")")"
    python3 -m venv "$(dirname "$(dirname "$SVC_PY")")"
  fi
  if ! "$SVC_PY" -c 'import milvus_lite, pymilvus, jieba' 2>/dev/null; then
    svc_log "installing milvus-lite into $SVC_PY"
    "$SVC_PY" -m pip install -q 'pymilvus>=3.0,<4' 'milvus-lite[chinese]>=3.2.2,<4'
  fi
}

svc_milvus_start() {
  svc_milvus_install
  SVC_MV_DIR=$(mktemp -d "$SVC_TMP/kmv.XXXXXX")
  local port t0=$SECONDS
  port=$(svc_free_port)
  # `milvus-lite server` closes its data cleanly only on KeyboardInterrupt, and a background
  # job of a script ignores SIGINT: turn SIGTERM into KeyboardInterrupt. Loopback only (no auth).
  "$SVC_PY" -c '
import signal, sys
def _stop(*_): raise KeyboardInterrupt
signal.signal(signal.SIGTERM, _stop); signal.signal(signal.SIGINT, _stop)
from milvus_lite.cmdline import main
sys.exit(main())' server --data-dir "$SVC_MV_DIR/data" --host 127.0.0.1 --port "$port" \
    >"$SVC_MV_DIR/milvus.log" 2>&1 &
  SVC_MV_PID=$!
  if ! svc_wait_tcp "$port" 120 "$SVC_MV_PID"; then
    cat "$SVC_MV_DIR/milvus.log" >&2
    svc_log "Milvus Lite did not start"
    return 1
  fi
  export KEFU_TEST_MILVUS_URI="http://127.0.0.1:$port"
  svc_log "Milvus Lite $("$SVC_PY" -c 'import importlib.metadata as m; print(m.version("milvus-lite"))') on $KEFU_TEST_MILVUS_URI in $((SECONDS - t0)) s"
}

svc_milvus_stop() {
  if [[ -n $SVC_MV_PID ]] && kill -0 "$SVC_MV_PID" 2>/dev/null; then
    kill -TERM "$SVC_MV_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SVC_MV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SVC_MV_PID" 2>/dev/null || true
    wait "$SVC_MV_PID" 2>/dev/null || true
    svc_log "Milvus Lite stopped"
  fi
  SVC_MV_PID=""
  [[ -n $SVC_MV_DIR ]] && rm -rf "$SVC_MV_DIR"
  SVC_MV_DIR=""
}

svc_cleanup() { svc_milvus_stop || true; svc_pg_stop || true; }

svc_run() {
  local want_pg=1 want_mv=1
  while [[ $# -gt 0 && $1 != -- ]]; do
    case $1 in
      --postgres-only) want_mv=0 ;;
      --milvus-only) want_pg=0 ;;
      *) svc_log "unknown option $1"; return 2 ;;
    esac
    shift
  done
  [[ ${1:-} == -- ]] && shift
  [[ $# -gt 0 ]] || { svc_log "usage: $0 run [--postgres-only|--milvus-only] -- CMD [ARGS...]"; return 2; }
  trap svc_cleanup EXIT
  # bash runs a trap only after a foreground child exits: run CMD in the background and
  # wait, so that INT/TERM reach it at once and the servers are stopped afterwards.
  trap '[[ -n $SVC_CHILD ]] && kill -TERM "$SVC_CHILD" 2>/dev/null; exit 130' INT
  trap '[[ -n $SVC_CHILD ]] && kill -TERM "$SVC_CHILD" 2>/dev/null; exit 143' TERM
  if ((want_pg)); then svc_pg_start; fi
  if ((want_mv)); then svc_milvus_start; fi
  local rc=0
  "$@" <&0 &
  SVC_CHILD=$!
  wait "$SVC_CHILD" || rc=$?
  SVC_CHILD=""
  return $rc
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    run) shift; svc_run "$@" ;;
    *) echo "usage: $0 run [--postgres-only|--milvus-only] -- CMD [ARGS...]" >&2; exit 2 ;;
  esac
fi
