#!/usr/bin/env bash
# A private PostgreSQL cluster on a Unix socket, for the demo, tests and benchmark.
#
#   pgcluster.sh start DIR [setting=value ...]  initdb DIR/data if needed, start it,
#                                                and write DIR/env (PGHOST, PGPORT, PGUSER)
#   pgcluster.sh stop DIR                        stop it (fast shutdown)
#   pgcluster.sh restart DIR [immediate|fast]   stop with that mode, start again
#   pgcluster.sh start-temp ENVFILE              start one in a new mktemp -d directory
#                                                and copy its env to ENVFILE (tests)
#   pgcluster.sh stop-temp ENVFILE               stop it and remove the directory
#
# PostgreSQL refuses to run as root: as root the cluster runs as the postgres user.
# No TCP: the socket lives in DIR, so several clusters never collide.
set -euo pipefail

bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    local v=${d#/usr/lib/postgresql/}; v=${v%%/*}
    if [[ ${v%%.*} -ge 15 && -x $d/pg_ctl ]]; then echo "$d"; return; fi
  done
  echo "pgcluster.sh: no PostgreSQL 15+ server found (apt-get install postgresql-15)" >&2
  exit 1
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir=$1; shift
  local bin; bin=$(bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    if ! runuser -u postgres -- test -x "$dir"; then
      echo "pgcluster.sh: the postgres user cannot enter $dir (check the parent directories' permissions)" >&2
      exit 1
    fi
  fi
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    {
      echo "listen_addresses = ''"
      echo "unix_socket_directories = '$dir'"
      echo "port = 5432"
      echo "max_connections = 100"
      echo "shared_buffers = 128MB"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
      echo "logging_collector = off"
      echo "log_min_messages = warning"
      for s in "$@"; do echo "$s"; done
    } | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
  fi
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
      || { tail -20 "$dir/server.log" >&2; exit 1; }
  fi
  cat >"$dir/env" <<EOV
export PGHOST='$dir'
export PGPORT=5432
export PGUSER=postgres
export CPS_PG_DIR='$dir'
export CPS_PG_BIN='$bin'
EOV
  chmod 644 "$dir/env"
}

stop() {
  local dir=$1 mode=${2:-fast}
  local bin; bin=$(bindir)
  if [[ -f $dir/data/PG_VERSION ]]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
  fi
}

cmd=${1:-}; shift || true
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  restart) stop "$1" "${2:-fast}"; start "$1" ;;
  start-temp)
    envfile=$1
    dir=$(mktemp -d /tmp/cps-test-pg.XXXXXX)
    chmod 755 "$dir"
    start "$dir"
    cp "$dir/env" "$envfile"
    ;;
  stop-temp)
    envfile=$1
    [[ -f $envfile ]] || exit 0
    # shellcheck disable=SC1090
    source "$envfile"
    stop "$CPS_PG_DIR" fast
    rm -rf "$CPS_PG_DIR" "$envfile"
    ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
