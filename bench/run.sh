#!/usr/bin/env bash
# make bench: CPS against the alternatives a PostgreSQL user would reach for,
# on the same generated data, in the same run. See docs/BENCHMARKS.md.
#
#   bench/run.sh BUILD SIZE            SIZE = small (100k events), medium (1M),
#                                      large (10M) or a number of events
#   SIZES="small medium" bench/run.sh BUILD
#
# Environment (all optional):
#   BENCH_REPS            measured runs of every method (the median is reported);
#                         default 5 for small, 3 for the other sizes
#   BENCH_ALT_LIMIT=1800  seconds an alternative may take per run (pgRouting,
#                         label propagation); past it: "did not finish"
#   BENCH_ONCE_AFTER=900  an alternative whose first run takes longer is not
#                         repeated (reported as 1 run)
#   BENCH_SAMPLE=500      entities in the per-entity (naive) attribute sample
#   BENCH_APPEND=10000    new events of the incremental stitching runs
#   BENCH_FAILING=10      events the stitching expression fails on (step "failing")
#   BENCH_PGR_MAX_EVENTS=5000000  above this, pgRouting is not run (it ran out of memory at 10M)
#   BENCH_CPS_CONFIG=F    a cps JSON config (tunables) used for every CPS run
#   BENCH_STEPS="stitch incremental failing attributes attributes_incremental"
#                         the steps to measure; a partial run prepares what a
#                         step needs untimed and writes <size>-<date>-<steps>.*
#   BENCH_HUGE_PAGES=on   as root, reserve 2 MiB huge pages for the server's shared
#                         memory and give them back at the end; off: 4 KiB pages
#
# Everything lives in a private cluster under bench/work/ (kept between runs:
# the generated data of each size is a template database that is reused);
# results go to bench/results/<size>-<date>.{md,tsv,runs.tsv} and the chart to
# bench/results/time-vs-size.png.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
SQL=$BENCH/sql
WORK=$BENCH/work
RESULTS=$BENCH/results

BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
CPS=$BUILD/cps
GEN=$BUILD/cps-gen
SIZES=${SIZES:-${2:-small}}
REPS_DEFAULT=${BENCH_REPS:-}
ALT_LIMIT=${BENCH_ALT_LIMIT:-1800}
ONCE_AFTER=${BENCH_ONCE_AFTER:-900}
ALL_STEPS="stitch incremental failing attributes attributes_incremental"
STEPS=${BENCH_STEPS:-$ALL_STEPS}
SAMPLE=${BENCH_SAMPLE:-500}
APPEND=${BENCH_APPEND:-10000}
FAILING=${BENCH_FAILING:-10}
PGR_MAX_EVENTS=${BENCH_PGR_MAX_EVENTS:-5000000}
HUGE_PAGES=${BENCH_HUGE_PAGES:-on}
[[ $HUGE_PAGES == on || $HUGE_PAGES == off ]] || {
  echo "bench: BENCH_HUGE_PAGES must be on or off, not '$HUGE_PAGES'" >&2
  exit 1
}
CPS_ARGS=()
[[ -n ${BENCH_CPS_CONFIG:-} ]] && CPS_ARGS=(-c "$BENCH_CPS_CONFIG")
unset CPS_CONFIG PGDATABASE
export PGOPTIONS='-c client_min_messages=warning'

# The server, tuned as a production server on this machine (2 cores, 24 GiB
# shared with other work) would be -- durable: fsync, full page writes and
# synchronous commit on. pgcluster.sh writes fsync=off etc. at initdb; these
# come later in postgresql.conf and win (checked with SHOW below).
PG_SETTINGS=(
  shared_buffers=4GB
  effective_cache_size=16GB
  work_mem=64MB
  maintenance_work_mem=1GB
  temp_buffers=256MB
  max_wal_size=16GB
  min_wal_size=1GB
  checkpoint_timeout=30min
  checkpoint_completion_target=0.9
  wal_compression=lz4
  wal_level=replica
  fsync=on
  full_page_writes=on
  synchronous_commit=on
  jit=off
  max_parallel_workers_per_gather=2
  max_parallel_maintenance_workers=2
  random_page_cost=1.1
  effective_io_concurrency=200
  autovacuum=on
  track_io_timing=on
  log_checkpoints=on
  log_autovacuum_min_duration=10s
  "huge_pages=$([[ $HUGE_PAGES == on ]] && echo try || echo off)"
)

# ---- small helpers --------------------------------------------------------

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf '\nbench: FAILED: %s\n' "$*" >&2; exit 1; }

# q DB SQL: one statement, unaligned tuples, stop on error.
q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$1" -c "$2"; }

# Seconds between two $EPOCHREALTIME readings, 3 decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

events_of_size() {
  case $1 in
    small) echo 100000 ;;
    medium) echo 1000000 ;;
    large) echo 10000000 ;;
    *[!0-9]* | '') die "unknown size '$1' (small, medium, large or a number of events)" ;;
    *) echo "$1" ;;
  esac
}

# record STEP METHOD RUN SECONDS STATUS PEAK_RSS ITEMS NOTE: one measured run,
# with the machine's 1-minute load average right after it (2 cores: above 2,
# something else competed for the CPUs).
record() {
  local load
  read -r load _ </proc/loadavg
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$SIZE" "$EVENTS" "$@" "$load" >>"$RUNS_TSV"
}

# check WHAT "true|detail" or "false|detail" (a check function's ok and detail):
# abort the benchmark when a result differs.
check() {
  local what=$1 result=$2
  [[ $result == true\|* ]] || die "$what: the result differs from CPS's: ${result#*|}"
  log "   check: $what: ${result#*|}"
}

# ---- the cluster ------------------------------------------------------------

start_cluster() {
  "$ROOT/scripts/pgcluster.sh" start "$WORK/pg" "${PG_SETTINGS[@]}"
  # shellcheck disable=SC1091
  source "$WORK/pg/env"
  # A cluster made by an earlier version of this script: bring it up to date.
  local s name value changed=0
  for s in "${PG_SETTINGS[@]}"; do
    name=${s%%=*} value=${s#*=}
    if [[ $(q postgres "SELECT current_setting('$name')") != "$value" ]]; then
      log "setting $name = $value (was $(q postgres "SELECT current_setting('$name')"))"
      q postgres "ALTER SYSTEM SET $name = '$value'"
      changed=1
    fi
  done
  if ((changed)); then
    log "settings changed: restarting the benchmark cluster"
    "$ROOT/scripts/pgcluster.sh" restart "$WORK/pg" fast
  fi
  for s in "${PG_SETTINGS[@]}"; do
    name=${s%%=*} value=${s#*=}
    [[ $(q postgres "SELECT current_setting('$name')") == "$value" ]] ||
      die "setting $name is $(q postgres "SHOW $name"), expected $value"
  done
  if [[ $HUGE_PAGES == on ]]; then reserve_huge_pages; fi
  HUGE_PAGES_NOTE=$(huge_pages_in_use)
  log "shared memory in huge pages: $HUGE_PAGES_NOTE"
}

# Shared memory in 2 MiB huge pages, as PostgreSQL's documentation advises
# for a large shared_buffers. On this machine (a Firecracker VM) a backend's
# first touch of each 4 KiB page of shared memory is a page fault of about
# 3 us, and every cps run is a new backend: without huge pages an incremental
# batch took twice as long (docs/BENCHMARKS.md). The server runs with
# huge_pages=try, so it never fails to start for want of them; as root the
# script reserves what it needs (vm.nr_hugepages) while the server is down,
# and release_huge_pages gives them back when the benchmark ends.
HUGE_PAGES_BEFORE=
reserve_huge_pages() {
  local need have free
  [[ $(huge_pages_in_use) == yes* ]] && return
  need=$(q postgres "SHOW shared_memory_size_in_huge_pages")
  if [[ $(id -u) -ne 0 || ! -w /proc/sys/vm/nr_hugepages ]]; then
    log "huge pages: not root, cannot reserve the $need the server needs (as root: sysctl -w vm.nr_hugepages=$need)"
    return
  fi
  "$ROOT/scripts/pgcluster.sh" stop "$WORK/pg"
  have=$(cat /proc/sys/vm/nr_hugepages)
  free=$(awk '$1 == "HugePages_Free:" { print $2 }' /proc/meminfo)
  if ((free < need)); then
    HUGE_PAGES_BEFORE=$have
    echo $((have + need - free)) >/proc/sys/vm/nr_hugepages
    log "huge pages: vm.nr_hugepages $have -> $(cat /proc/sys/vm/nr_hugepages) (the server needs $need)"
  fi
  "$ROOT/scripts/pgcluster.sh" start "$WORK/pg"
}

# Whether the server's shared memory is in huge pages: "yes (N MiB)" or "no".
# A huge-page mapping shows in the postmaster's maps as /anon_hugepage.
huge_pages_in_use() {
  local pid range path bytes=0
  pid=$(head -1 "$WORK/pg/data/postmaster.pid")
  while read -r range _ _ _ _ path; do
    [[ $path == */anon_hugepage* ]] && ((bytes += 16#${range#*-} - 16#${range%-*}))
  done <"/proc/$pid/maps"
  if ((bytes > 0)); then echo "yes ($((bytes >> 20)) MiB)"; else echo "no"; fi
}

# At exit: stop the server and give the reserved huge pages back.
release_huge_pages() {
  [[ -n $HUGE_PAGES_BEFORE ]] || return 0
  "$ROOT/scripts/pgcluster.sh" stop "$WORK/pg"
  echo "$HUGE_PAGES_BEFORE" >/proc/sys/vm/nr_hugepages
  log "huge pages: server stopped, vm.nr_hugepages back to $HUGE_PAGES_BEFORE"
}

# clone SOURCE TARGET: a fresh copy of a database (file copy: fast, untimed).
clone() {
  q postgres "DROP DATABASE IF EXISTS $2 WITH (FORCE)"
  q postgres "CREATE DATABASE $2 TEMPLATE $1 STRATEGY FILE_COPY"
}

drop_db() { q postgres "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }

# After a backend crash the server restarts on its own: wait for it.
wait_for_server() {
  local i
  for ((i = 0; i < 300; i++)); do
    pg_isready -q -d postgres && return 0
    sleep 1
  done
  die "the server did not come back"
}

# prewarm DB REL...: the relations a step reads, in shared buffers, so that
# every method starts from the same cache state.
prewarm() {
  local db=$1 rel; shift
  for rel in "$@"; do
    q "$db" "SELECT pg_prewarm('$rel') FROM (SELECT to_regclass('$rel') AS r) s WHERE r IS NOT NULL" \
      >/dev/null
  done
}

# prewarm_tables DB TABLE...: prewarm, each table and all of its indexes.
prewarm_tables() {
  local db=$1 rel; shift
  for rel in "$@"; do
    q "$db" "SELECT pg_prewarm(r) FROM (SELECT to_regclass('$rel') AS r) s WHERE r IS NOT NULL
             UNION ALL
             SELECT pg_prewarm(indexrelid) FROM pg_index WHERE indrelid = to_regclass('$rel')" \
      >/dev/null
  done
}

# quiesce DB [vacuum]: nothing else running when a measurement starts --
# optionally VACUUM ANALYZE (what autovacuum would do anyway), a checkpoint,
# and no autovacuum worker busy.
quiesce() {
  [[ ${2:-} == vacuum ]] && q "$1" "VACUUM (ANALYZE)"
  q postgres "CHECKPOINT"
  # The kernel may still be writing back the gigabytes of an untimed clone:
  # flush them now, or the measured run's WAL fsyncs queue behind them.
  sync
  local i
  for ((i = 0; i < 1200; i++)); do
    [[ $(q postgres "SELECT count(*) FROM pg_stat_activity
                      WHERE backend_type = 'autovacuum worker'") == 0 ]] && return 0
    sleep 0.5
  done
  log "   (an autovacuum worker is still busy; measuring anyway)"
}

# ---- the data -----------------------------------------------------------------

# The generated CDP of this size, as a template database, made once and
# reused while the size, seed and generator model stay the same.
ensure_template() {
  local model tag
  model=$(sed -n 's/^#define GEN_MODEL_VERSION \([0-9]*\).*/\1/p' "$ROOT/gen/gen_model.h")
  tag="cps-bench template: events=$EVENTS seed=42 model=$model"
  if [[ $(q postgres "SELECT shobj_description(oid, 'pg_database') FROM pg_database
                       WHERE datname = '$TPL'") == "$tag" ]]; then
    log "data: $TPL ($EVENTS events) reused"
    return
  fi
  log "data: generating $EVENTS events into $TPL (cps-gen, seed 42)"
  drop_db "$TPL"
  q postgres "CREATE DATABASE $TPL"
  local t0=$EPOCHREALTIME
  "$GEN" --dsn "dbname=$TPL" --events "$EVENTS" --quiet || die "cps-gen failed"
  q "$TPL" "CREATE EXTENSION pg_prewarm; CREATE EXTENSION pgrouting CASCADE" >/dev/null
  q "$TPL" "VACUUM (FREEZE, ANALYZE)"
  q postgres "COMMENT ON DATABASE $TPL IS '$tag'"
  log "data: ready in $(elapsed "$t0" "$EPOCHREALTIME") s"
}

# ---- CPS ------------------------------------------------------------------------

# run_cps DB COMMAND LOG [STATUS]: run CPS, set ELAPSED (wall seconds of the
# process) and STATS (peak RSS, step seconds, ... of its record in
# cdp_ps.runs). STATUS is the run's expected status: ok (exit status 0), or
# errors (exit status 1: events set aside, say).
run_cps() {
  local db=$1 command=$2 logfile=$3 want=${4:-ok} t0 rc=0
  t0=$EPOCHREALTIME
  # -v: the debug log times every statement (see hotspots); it costs nothing measurable
  PGOPTIONS="$PGOPTIONS ${CPS_PGOPTIONS:-}" \
    "$CPS" "${CPS_ARGS[@]}" -v --dsn "dbname=$db" "$command" >"$logfile" 2>&1 || rc=$?
  ELAPSED=$(elapsed "$t0" "$EPOCHREALTIME")
  local want_rc=0
  [[ $want == ok ]] || want_rc=1
  ((rc == want_rc)) || { tail -20 "$logfile" >&2; die "cps $command exited with status $rc (log: $logfile)"; }
  # fields: 1 status, 2 peak RSS, 3 step seconds, 4-6 read/resolve/write seconds
  # (stitch), 7 identifiers, 8 entities new (stitch), 9 entities calculated,
  # 10 one pass over events seconds (attributes)
  STATS=$(q "$db" "SELECT array_to_string(ARRAY[status, s->>'peak_rss_bytes',
                            round((s->>'seconds')::numeric, 3)::text,
                            round((s->>'read_seconds')::numeric, 3)::text,
                            round((s->>'resolve_seconds')::numeric, 3)::text,
                            round((s->>'write_seconds')::numeric, 3)::text,
                            s->>'identifiers_new', s->>'entities_new', s->>'entities',
                            round((s->>'one_pass_seconds')::numeric, 3)::text], E'\t', '')
                     FROM (SELECT status, stats#>'{steps,$command}' AS s FROM cdp_ps.runs
                           ORDER BY id DESC LIMIT 1) r")
  [[ ${STATS%%$'\t'*} == "$want" ]] ||
    die "cps $command recorded status '${STATS%%$'\t'*}', not $want (log: $logfile)"
}

stat_field() { cut -f"$1" <<<"$STATS"; }

# The stitching step's phases, from STATS: "read X s, resolve Y s, write Z s".
stitch_phases() { echo "read $(stat_field 4) s, resolve $(stat_field 5) s, write $(stat_field 6) s"; }

# ---- 1. stitching from scratch --------------------------------------------------

stitch_cps() {
  local run=$1 db=${PFX}_cps log_offset
  clone "$TPL" "$db"
  prewarm "$db" cdp_ce.customer_events
  quiesce "$db"
  # the server logs CPS's statements, so that the floor can replay its extraction
  log_offset=$(stat -c %s "$WORK/pg/server.log")
  CPS_PGOPTIONS="-c log_min_duration_statement=0" run_cps "$db" stitch "$LOGS/stitch-cps-$run.log"
  ((run == 1)) && capture_extraction "$log_offset"
  local rss identifiers entities digest
  rss=$(stat_field 2) identifiers=$(stat_field 7) entities=$(stat_field 8)
  digest=$(q "$db" "SELECT count(*) || ':' || sum(hashtextextended(customer_event_id || '/' || customer_entity_id, 0))
                     FROM cdp_ps.matching")
  [[ ${digest%%:*} == "$EVENTS" ]] || die "CPS stitched ${digest%%:*} of $EVENTS events"
  if [[ -z ${CPS_DIGEST:-} ]]; then
    CPS_DIGEST=$digest
    q "$db" "\\copy cdp_ps.matching TO '$MATCHING_FILE'"
  elif [[ $digest != "$CPS_DIGEST" ]]; then
    die "CPS run $run gave another matching than run 1"
  fi
  log "   CPS: $ELAPSED s ($(stitch_phases);" \
    "$identifiers identifiers, $entities entities, peak RSS $((rss / 1048576)) MiB)"
  record stitch cps "$run" "$ELAPSED" ok "$rss" "$EVENTS" \
    "$(stitch_phases); $identifiers identifiers, $entities entities"
  # the last run's database is the stitched history for the next steps,
  # vacuumed once (untimed) as autovacuum would in time
  if ((run == REPS)); then
    q postgres "DROP DATABASE IF EXISTS ${PFX}_stitched WITH (FORCE)"
    q "$db" "VACUUM (FREEZE, ANALYZE)"
    q postgres "ALTER DATABASE $db RENAME TO ${PFX}_stitched"
  else
    drop_db "$db"
  fi
}

# CPS's from-scratch extraction, as the server logged it (the statement after
# "statement: " up to the next log line; continuation lines carry a tab), into
# $EXTRACTION_FILE for the floor. If it cannot be found (CPS changed its
# query), the floor falls back to bench.extraction and says so.
capture_extraction() {
  # (awk reads to the end: exiting early would kill tail with SIGPIPE)
  tail -c +$(($1 + 1)) "$WORK/pg/server.log" | awk '
    done { next }
    /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { if (grab) { done = 1; next } }
    grab { sub(/^\t/, ""); print; next }
    /statement: COPY \(SELECT customer_events\.id(::text)?, customer_events\.event_time/ {
      grab = 1; sub(/^.*statement: /, ""); print
    }' >"$EXTRACTION_FILE"
  if [[ -s $EXTRACTION_FILE ]] && grep -q 'TO STDOUT' "$EXTRACTION_FILE"; then
    # CPS reads a large table in two halves of its blocks, on two sessions at
    # once; the floor evaluates the same statement over the whole table on one
    sed -E -i "s/ WHERE e\.ctid (<|>=) '\([0-9]+,0\)'::tid//" "$EXTRACTION_FILE"
    echo ';' >>"$EXTRACTION_FILE"
    EXTRACTION_SOURCE="CPS's own extraction statement (from the server log), over the whole table"
  else
    echo 'COPY (SELECT * FROM bench.extraction) TO STDOUT;' >"$EXTRACTION_FILE"
    EXTRACTION_SOURCE="bench.extraction (CPS's statement was not found in the server log)"
    log "   note: CPS's extraction statement not found in the server log; the floor uses bench.extraction"
  fi
}

# The alternatives work in one copy of the template, next to CPS's reference
# matching (bench.cps_ref) they are checked against.
stitch_alt_setup() {
  clone "$TPL" "$ALT"
  psql -X -q -d "$ALT" -f "$SQL/setup.sql" >/dev/null
  q "$ALT" "CREATE TABLE bench.cps_ref (customer_event_id text PRIMARY KEY, customer_entity_id text NOT NULL)"
  q "$ALT" "\\copy bench.cps_ref FROM '$MATCHING_FILE'"
  q "$ALT" "ANALYZE bench.cps_ref"
}

declare -A SKIP=() # alternatives not repeated (too slow, or did not finish)

# stitch_alt RUN METHOD SQLFILE TABLE: one timed psql session, then the check.
stitch_alt() {
  local run=$1 method=$2 file=$3 table=$4 t0 rc=0 err
  err=$LOGS/stitch-$method-$run.log
  if [[ -n ${SKIP[$method]:-} ]]; then
    log "   $method: not repeated (${SKIP[$method]})"
    return
  fi
  prewarm "$ALT" cdp_ce.customer_events
  quiesce "$ALT"
  t0=$EPOCHREALTIME
  PGOPTIONS="$PGOPTIONS -c statement_timeout=${ALT_LIMIT}s -c bench.deadline=$((EPOCHSECONDS + ALT_LIMIT))" \
    psql -X -q -v ON_ERROR_STOP=1 -d "$ALT" -f "$SQL/$file" >"$err" 2>&1 || rc=$?
  ELAPSED=$(elapsed "$t0" "$EPOCHREALTIME")
  if ((rc != 0)); then
    if grep -qE 'did not finish|statement timeout' "$err"; then
      local why
      why=$(grep -oE 'did not finish.*|canceling statement due to statement timeout' "$err" | head -1)
      log "   $method: DID NOT FINISH in $ALT_LIMIT s ($why)"
      record stitch "$method" "$run" "$ALT_LIMIT" dnf "" "$EVENTS" "did not finish in $ALT_LIMIT s: $why"
      SKIP[$method]="did not finish in $ALT_LIMIT s"
      q "$ALT" "DROP TABLE IF EXISTS bench.$table"
      return
    fi
    if grep -qE 'out of memory|server closed the connection|terminating connection because of crash' "$err"; then
      # e.g. the kernel's OOM killer took the backend: say so, and go on
      log "   $method: FAILED after $ELAPSED s: $(grep -m1 -oE 'out of memory.*|server closed the connection.*' "$err")"
      record stitch "$method" "$run" "$ELAPSED" failed "" "$EVENTS" \
        "failed after $ELAPSED s: $(grep -m1 -oE 'out of memory|server closed the connection unexpectedly' "$err")"
      SKIP[$method]="failed"
      wait_for_server
      q "$ALT" "DROP TABLE IF EXISTS bench.$table"
      return
    fi
    cat "$err" >&2
    die "$method failed (log: $err)"
  fi
  local note=""
  [[ $method == labelprop ]] && note="$(grep -c 'label propagation round' "$err") rounds"
  log "   $method: $ELAPSED s${note:+ ($note)}"
  check "$method partition = CPS's" "$(q "$ALT" "SELECT ok || '|' || detail FROM bench.same_partition('bench.cps_ref', 'bench.$table')")"
  record stitch "$method" "$run" "$ELAPSED" ok "" "$EVENTS" "$note"
  q "$ALT" "DROP TABLE bench.$table"
  if awk -v s="$ELAPSED" -v l="$ONCE_AFTER" 'BEGIN { exit !(s > l) }'; then
    SKIP[$method]="one run took $ELAPSED s > $ONCE_AFTER s"
  fi
}

# The floor: the extraction COPYed out to /dev/null, plus the matching
# COPYed into an indexed table; the two parts are timed separately.
stitch_floor() {
  local run=$1 t0 out in
  prewarm "$ALT" cdp_ce.customer_events
  quiesce "$ALT"
  t0=$EPOCHREALTIME
  psql -X -q -v ON_ERROR_STOP=1 -v extraction_file="$EXTRACTION_FILE" -d "$ALT" \
    -f "$SQL/stitch_floor_out.sql" || die "floor (COPY out) failed"
  out=$(elapsed "$t0" "$EPOCHREALTIME")
  quiesce "$ALT"
  t0=$EPOCHREALTIME
  psql -X -q -v ON_ERROR_STOP=1 -d "$ALT" -f "$SQL/stitch_floor_in.sql" <"$MATCHING_FILE" ||
    die "floor (COPY in) failed"
  in=$(elapsed "$t0" "$EPOCHREALTIME")
  ELAPSED=$(awk -v a="$out" -v b="$in" 'BEGIN { printf "%.3f", a + b }')
  log "   floor: $ELAPSED s (identifier rows out $out s, matching in $in s)"
  check "floor matching rows" "$(q "$ALT" "SELECT ok || '|' || detail FROM bench.same_partition('bench.cps_ref', 'bench.floor_matching')")"
  record stitch floor "$run" "$ELAPSED" ok "" "$EVENTS" "COPY out $out s + COPY in $in s; out: $EXTRACTION_SOURCE"
  q "$ALT" "DROP TABLE bench.floor_matching"
}

measure_stitch() {
  log "1. stitching from scratch ($REPS runs each)"
  CPS_DIGEST=
  SKIP=()
  local run
  # At 10M events pgr_connectedComponents took all 24 GiB of this machine and
  # the kernel killed the server (and this script) on 2026-11-27: above
  # PGR_MAX_EVENTS it is recorded as not run rather than taking the run down.
  if ((EVENTS > PGR_MAX_EVENTS)); then
    local why="not run: above $PGR_MAX_EVENTS events pgr_connectedComponents exhausted this machine's memory (24 GiB; the kernel killed the server)"
    log "   pgrouting: $why"
    record stitch pgrouting 1 0 not_run "" "$EVENTS" "$why"
    SKIP[pgrouting]="not run above $PGR_MAX_EVENTS events"
  fi
  for ((run = 1; run <= REPS; run++)); do
    log " run $run/$REPS"
    stitch_cps "$run"
    ((run == 1)) && stitch_alt_setup
    stitch_alt "$run" pgrouting stitch_pgrouting.sql pgr_matching
    stitch_alt "$run" labelprop stitch_labelprop.sql lp_matching
    stitch_floor "$run"
  done
  drop_db "$ALT"
}

# ---- 2. incremental stitching ---------------------------------------------------

measure_stitch_incremental() {
  log "2. incremental stitching: $APPEND new events on top of $EVENTS ($REPS runs)"
  local run db=${PFX}_inc queued
  for ((run = 1; run <= REPS; run++)); do
    clone "${PFX}_stitched" "$db"
    "$GEN" --dsn "dbname=$db" --append "$APPEND" --quiet || die "cps-gen --append failed"
    queued=$(q "$db" "SELECT count(*) FROM cdp_ps.customer_events_to_process")
    [[ $queued == "$APPEND" ]] || die "expected $APPEND queued events, found $queued"
    # What a CPS scheduled every few minutes finds in memory: the tables it
    # reads and writes with all their indexes (customer_entities too: the
    # front end and every attribute step read it). Not the events' heap
    # (4 GB at 10M, as much as shared_buffers): the step reads only the new
    # events, which cps-gen has just written.
    prewarm "$db" cdp_ce.customer_events_pkey
    prewarm_tables "$db" cdp_ps.customer_events_to_process cdp_ps.matching cdp_ps.identifiers \
      cdp_ps.entities cdp_ps.entity_merges cdp_attr.customer_entities
    quiesce "$db" vacuum
    run_cps "$db" stitch "$LOGS/stitch-incremental-$run.log"
    [[ $(q "$db" "SELECT (SELECT count(*) FROM cdp_ps.customer_events_to_process) = 0
                   AND (SELECT count(*) FROM cdp_ps.matching) = (SELECT count(*) FROM cdp_ce.customer_events)") == t ]] ||
      die "incremental stitching left events unstitched"
    log "   run $run/$REPS: CPS $ELAPSED s ($(stitch_phases);" \
      "peak RSS $(($(stat_field 2) / 1048576)) MiB)"
    record stitch_incremental cps "$run" "$ELAPSED" ok "$(stat_field 2)" "$APPEND" "$(stitch_phases)"
  done
  drop_db "$db"
}

# ---- 3. stitching from scratch with failing events -------------------------------

# The cookie expression fails (a cast) on FAILING events with a cookie id,
# the first by md5 of their ids (so spread over the table): CPS must set
# exactly those aside and stitch every other event. Measured against the same
# expression on the same data failing on none ("clean"): the ratio is what
# the failing events cost.
measure_stitch_failing() {
  log "3. stitching from scratch with $FAILING failing events ($REPS runs each)"
  local run
  for ((run = 1; run <= REPS; run++)); do
    log " run $run/$REPS"
    stitch_failing "$run" clean
    stitch_failing "$run" cps
  done
}

stitch_failing() {
  local run=$1 method=$2 db=${PFX}_failing cast=''
  clone "$TPL" "$db"
  q "$db" "CREATE TABLE public.bench_failing AS
             SELECT e.id FROM cdp_ce.customer_events e
              WHERE e.event_id IN (SELECT event_id FROM cdp_ps.stitching_attributes_config
                                    WHERE attribute_id = 'stitching_cookie_id')
                AND e.payload->>'cookie_id' !~ '^[0-9]*\$'
              ORDER BY md5(e.id) LIMIT $FAILING"
  [[ $method == cps ]] && cast='::int::text'
  q "$db" "UPDATE cdp_ps.stitching_attributes_config
              SET value_expression = format('CASE WHEN id = ANY (%L::text[]) THEN (payload->>''cookie_id'')%s ELSE %s END',
                                            (SELECT array_agg(id)::text FROM public.bench_failing), '$cast',
                                            value_expression)
            WHERE attribute_id = 'stitching_cookie_id'"
  prewarm "$db" cdp_ce.customer_events
  quiesce "$db"
  local want=ok expect_failed=0
  [[ $method == cps ]] && want=errors expect_failed=$FAILING
  run_cps "$db" stitch "$LOGS/stitch-failing-$method-$run.log" "$want"
  [[ $(q "$db" "SELECT (SELECT count(*) FROM cdp_ps.failed_events) = $expect_failed
                   AND (SELECT count(*) FROM cdp_ps.matching) = $EVENTS - $expect_failed
                   AND NOT EXISTS (SELECT customer_event_id FROM cdp_ps.failed_events
                                   EXCEPT SELECT id FROM public.bench_failing)") == t ]] ||
    die "stitching with failing events ($method): not exactly the $expect_failed failing events set aside"
  log "   $method: $ELAPSED s ($(stitch_phases); $expect_failed events set aside)"
  record stitch_failing "$method" "$run" "$ELAPSED" ok "$(stat_field 2)" "$EVENTS" \
    "$(stitch_phases); $expect_failed events set aside"
  drop_db "$db"
}

# ---- 4. attributes from scratch, 5. incremental attributes -----------------------

ATTR_RELS=(cdp_ce.customer_events cdp_ce.customer_events_pkey cdp_ps.matching cdp_ps.matching_pkey
  cdp_ps.matching_customer_entity_id_idx)

attr_cps() {
  local run=$1
  prewarm "$ADB" "${ATTR_RELS[@]}"
  quiesce "$ADB" vacuum
  # The documented procedure: TRUNCATE, then run (right after it, not after
  # an ANALYZE of the emptied table -- see "CPS hot spots" in docs/BENCHMARKS.md).
  q "$ADB" "TRUNCATE cdp_attr.customer_entities CASCADE"
  run_cps "$ADB" attributes "$LOGS/attributes-cps-$run.log"
  local entities
  entities=$(stat_field 9)
  [[ $entities == "$ENTITIES" ]] || die "CPS calculated $entities entities, expected $ENTITIES"
  log "   CPS: $ELAPSED s ($entities entities, one pass over events $(stat_field 10) s," \
    "peak RSS $(($(stat_field 2) / 1048576)) MiB)"
  record attributes cps "$run" "$ELAPSED" ok "$(stat_field 2)" "$EVENTS" \
    "$entities entities; one pass over events $(stat_field 10) s"
}

attr_sql() {
  local run=$1 t0 t
  prewarm "$ADB" "${ATTR_RELS[@]}"
  quiesce "$ADB"
  t0=$EPOCHREALTIME
  psql -X -q -v ON_ERROR_STOP=1 -d "$ADB" -f "$SQL/attr_sql.sql" || die "hand-written SQL failed"
  ELAPSED=$(elapsed "$t0" "$EPOCHREALTIME")
  log "   hand-written SQL: $ELAPSED s"
  check "hand-written SQL values = CPS's" \
    "$(q "$ADB" "SELECT ok || '|' || detail FROM bench.same_attributes('bench.sql_attributes')")"
  for t in cdp_attr.customer_attributes bench.sql_attributes; do
    [[ $(q "$ADB" "SELECT bench.value_attributes_invalid('$t')") == 0 ]] ||
      die "$t holds a 'value' attribute that is not one of the entity's values"
  done
  record attributes sql "$run" "$ELAPSED" ok "" "$EVENTS" ""
  q "$ADB" "DROP TABLE bench.sql_attributes"
}

attr_naive() {
  local run=$1 t0 sample_s
  prewarm "$ADB" "${ATTR_RELS[@]}"
  quiesce "$ADB"
  t0=$EPOCHREALTIME
  psql -X -q -v ON_ERROR_STOP=1 -d "$ADB" -f "$NAIVE_SCRIPT" >/dev/null || die "per-entity queries failed"
  sample_s=$(elapsed "$t0" "$EPOCHREALTIME")
  ELAPSED=$(awk -v s="$sample_s" -v n="$SAMPLE_N" -v N="$ENTITIES" 'BEGIN { printf "%.3f", s * N / n }')
  log "   per-entity queries: $sample_s s for $SAMPLE_N entities -> $ELAPSED s extrapolated to $ENTITIES"
  check "per-entity values = CPS's (sample)" \
    "$(q "$ADB" "SELECT ok || '|' || detail FROM bench.same_attributes('bench.naive_attributes', 'bench.sample')")"
  [[ $(q "$ADB" "SELECT bench.value_attributes_invalid('bench.naive_attributes')") == 0 ]] ||
    die "the per-entity 'value' attribute is not one of the entity's values"
  record attributes per_entity "$run" "$ELAPSED" extrapolated "" "$EVENTS" \
    "$SAMPLE_N of $ENTITIES entities took $sample_s s"
  q "$ADB" "DROP TABLE bench.naive_attributes"
}

# A deterministic sample of entities, and the per-entity script: one
# transaction per entity, one EXECUTE per attribute.
attr_naive_setup() {
  q "$ADB" "DROP TABLE IF EXISTS bench.sample"
  q "$ADB" "CREATE TABLE bench.sample AS SELECT id AS customer_entity_id FROM cdp_attr.customer_entities
            ORDER BY md5(id) LIMIT $SAMPLE"
  SAMPLE_N=$(q "$ADB" "SELECT count(*) FROM bench.sample")
  local attrs
  attrs=$(q "$ADB" "SELECT id FROM cdp_attr.attributes ORDER BY id")
  {
    echo "\\i $SQL/attr_naive.sql"
    q "$ADB" "SELECT customer_entity_id FROM bench.sample ORDER BY 1" |
      awk -v attrs="$attrs" 'BEGIN { n = split(attrs, a, "\n") }
        { print "BEGIN;"; for (i = 1; i <= n; i++) printf "EXECUTE %s('\''%s'\'');\n", a[i], $1; print "COMMIT;" }'
  } >"$NAIVE_SCRIPT"
}

attributes_setup() {
  ADB=${PFX}_attr
  clone "${PFX}_stitched" "$ADB"
  psql -X -q -d "$ADB" -f "$SQL/setup.sql" >/dev/null
  ENTITIES=$(q "$ADB" "SELECT count(*) FROM cdp_ps.entities")
}

measure_attributes() {
  log "4. attributes from scratch: $ENTITIES entities ($REPS runs each)"
  local run
  for ((run = 1; run <= REPS; run++)); do
    log " run $run/$REPS"
    attr_cps "$run"
    attr_sql "$run"
    ((run == 1)) && attr_naive_setup
    attr_naive "$run"
  done
}

# 5. incremental: the same deterministic 1 % of the entities had activity
measure_attributes_incremental() {
  if ! has_step attributes; then
    log "   (untimed: every entity's attributes calculated first)"
    run_cps "$ADB" attributes "$LOGS/attributes-prepare.log"
  fi
  log "5. incremental attributes: 1 % of the entities active ($REPS runs)"
  local run active active_events calculated
  for ((run = 1; run <= REPS; run++)); do
    active=$(q "$ADB" "WITH u AS (UPDATE cdp_attr.customer_entities SET modified = clock_timestamp()
                                   WHERE ('x' || left(md5(id), 8))::bit(32)::int % 100 = 0 RETURNING 1)
                       SELECT count(*) FROM u")
    # as for incremental stitching: what CPS reads and writes, with the
    # indexes, but not the events' heap (the active entities' events are a
    # scattered 1 %)
    prewarm "$ADB" cdp_ce.customer_events_pkey
    prewarm_tables "$ADB" cdp_ps.matching cdp_attr.customer_entities cdp_attr.customer_attributes
    quiesce "$ADB" vacuum
    run_cps "$ADB" attributes "$LOGS/attributes-incremental-$run.log"
    calculated=$(stat_field 9)
    [[ $calculated == "$active" ]] || die "CPS calculated $calculated entities, $active were active"
    active_events=$(q "$ADB" "SELECT count(*) FROM cdp_ps.matching
                              WHERE ('x' || left(md5(customer_entity_id), 8))::bit(32)::int % 100 = 0")
    log "   run $run/$REPS: CPS $ELAPSED s ($active entities, $active_events events)"
    record attributes_incremental cps "$run" "$ELAPSED" ok "$(stat_field 2)" "$active_events" \
      "$active active entities ($active_events events)"
  done
}

# ---- the whole benchmark of one size ---------------------------------------------

# hotspots: CPS's slowest statements in the first run of each measured step,
# from the timings its debug log (-v) gives ("STEP: 0.137 s, 25169 rows: SQL...").
hotspots() {
  local name file
  echo
  echo "## Where CPS spends its time (first run of each step, from \`cps -v\`)"
  for name in stitch-cps-1 stitch-incremental-1 stitch-failing-cps-1 attributes-cps-1 attributes-incremental-1; do
    file=$LOGS/$name.log
    [[ -f $file ]] || continue
    echo
    echo "$name: the slowest timed statements"
    echo
    echo '```'
    grep -E ' DEBUG ' "$file" | awk '{
        t = 0; line = $0
        while (match(line, /[0-9]+\.[0-9]+ s/)) { t += substr(line, RSTART, RLENGTH - 2); line = substr(line, RSTART + RLENGTH) }
        if (t > 0) { sub(/^.* DEBUG +/, ""); printf "%8.3f  %s\n", t, substr($0, 1, 150) }
      }' | sort -rn | head -8
    echo '```'
  done
}

machine_info() {
  {
    echo "cpus	$(nproc) ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))"
    echo "memory	$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "disk	$(df -h --output=source,fstype,size "$WORK" | tail -1 | tr -s ' ')"
    echo "postgresql	$(q postgres "SELECT version()")"
    echo "settings	$(printf '%s ' "${PG_SETTINGS[@]}")"
    echo "huge_pages	$HUGE_PAGES_NOTE"
    echo "cps	$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
      [[ -n $(git -C "$ROOT" status --porcelain -- src gen 2>/dev/null) ]] && echo ' (with uncommitted changes)')"
    echo "date	$(date '+%Y-%m-%d %H:%M %Z')"
  } >"$1"
}

bench_size() {
  SIZE=$1
  EVENTS=$(events_of_size "$SIZE")
  REPS=${REPS_DEFAULT:-$([[ $SIZE == small ]] && echo 5 || echo 3)}
  PFX=bench_${SIZE}
  TPL=${PFX}_tpl
  ALT=${PFX}_alt
  LOGS=$WORK/$SIZE/logs
  MATCHING_FILE=$WORK/$SIZE/cps_matching.tsv
  EXTRACTION_FILE=$WORK/$SIZE/cps_extraction.sql
  NAIVE_SCRIPT=$WORK/$SIZE/per_entity.sql
  rm -rf "${WORK:?}/$SIZE"
  mkdir -p "$LOGS"
  local stamp
  stamp=$(date +%F)
  local base=$RESULTS/$SIZE-$stamp
  [[ $STEPS == "$ALL_STEPS" ]] || base=$base-${STEPS// /-}
  RUNS_TSV=$base.runs.tsv.tmp
  printf 'size\tevents\tstep\tmethod\trun\tseconds\tstatus\tpeak_rss_bytes\titems\tnote\tload1\n' >"$RUNS_TSV"

  log "== $SIZE: $EVENTS events"
  local t0=$EPOCHREALTIME
  ensure_template
  if has_step stitch; then
    measure_stitch
  elif has_step incremental || has_step attributes || has_step attributes_incremental; then
    stitched_untimed
  fi
  has_step incremental && measure_stitch_incremental
  has_step failing && measure_stitch_failing
  if has_step attributes || has_step attributes_incremental; then
    attributes_setup
    has_step attributes && measure_attributes
    has_step attributes_incremental && measure_attributes_incremental
    drop_db "$ADB"
  fi
  drop_db "${PFX}_stitched"

  mv "$RUNS_TSV" "$base.runs.tsv"
  machine_info "$base.machine.tsv"
  { "$BENCH/report.sh" size "$base"; hotspots; } >"$base.md"
  log "== $SIZE done in $(elapsed "$t0" "$EPOCHREALTIME") s: $base.md"
  echo
  cat "$base.md"
}

has_step() { [[ " $STEPS " == *" $1 "* ]]; }

# Without the stitching step: the stitched history the other steps start from.
stitched_untimed() {
  log "1. (untimed: stitching from scratch for the steps that follow)"
  clone "$TPL" "${PFX}_stitched"
  run_cps "${PFX}_stitched" stitch "$LOGS/stitch-prepare.log"
  q "${PFX}_stitched" "VACUUM (FREEZE, ANALYZE)"
}

main() {
  local step
  for step in $STEPS; do
    [[ " $ALL_STEPS " == *" $step "* ]] || die "BENCH_STEPS: unknown step '$step' (steps: $ALL_STEPS)"
  done
  [[ -x $CPS && -x $GEN ]] || die "no $CPS or $GEN: build first (make build)"
  command -v gnuplot >/dev/null || die "gnuplot missing: scripts/deps.sh bench"
  [[ -f /usr/share/postgresql/15/extension/pgrouting.control ]] ||
    ls /usr/share/postgresql/*/extension/pgrouting.control >/dev/null 2>&1 ||
    die "pgRouting missing: scripts/deps.sh bench"
  local size
  for size in $SIZES; do events_of_size "$size" >/dev/null; done
  mkdir -p "$WORK" "$RESULTS"
  chmod 755 "$WORK"
  trap release_huge_pages EXIT
  start_cluster
  log "benchmark cluster: $PGHOST ($(q postgres "SHOW server_version"))"
  for size in $SIZES; do bench_size "$size"; done
  "$BENCH/report.sh" all "$RESULTS"
  log "chart: $RESULTS/time-vs-size.png; all sizes: $RESULTS/latest.md"
}

main
