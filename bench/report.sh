#!/usr/bin/env bash
# Tables and chart from the benchmark's measurements (called by bench/run.sh).
#
#   bench/report.sh size BASE    BASE.runs.tsv (every measured run) and
#                                BASE.machine.tsv -> BASE.tsv (one line per
#                                step and method: median, min, max, ratios)
#                                and the Markdown report on stdout
#   bench/report.sh all DIR      the latest results of every size in DIR ->
#                                DIR/latest.md (one table, all sizes) and
#                                DIR/time-vs-size.png (gnuplot)
#
# Ratios are "alternative's median time / CPS's median time" for the same step:
# above 1 CPS is faster. Medians of an even number of runs average the middle two.
set -euo pipefail
export LC_ALL=C

# summarize RUNS_TSV: the summary TSV on stdout.
summarize() {
  awk -F'\t' -v OFS='\t' '
    function sortn(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    }
    NR == 1 { next }
    {
      k = $3 SUBSEP $4
      if (!(k in n)) { order[++nk] = k; n[k] = 0; size = $1; events = $2 }
      step[k] = $3; method[k] = $4; items[k] = $9
      if ($7 == "dnf" || $7 == "failed" || $7 == "not_run") { dnf[k] = $6; dnfnote[k] = $10; dnfstatus[k] = $7; next }
      v[k, ++n[k]] = $6 + 0
      runnote[k, n[k]] = $10
      status[k] = $7
      if ($8 != "" && $8 + 0 > rss[k]) rss[k] = $8 + 0
    }
    END {
      print "size", "events", "step", "method", "runs", "median_s", "min_s", "max_s", "events_per_s",
            "vs_cps", "peak_rss_bytes", "status", "note"
      for (i = 1; i <= nk; i++) {
        k = order[i]
        if (n[k] > 0) {
          m = n[k]; delete a
          for (j = 1; j <= m; j++) a[j] = v[k, j]
          sortn(a, m)
          med[k] = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
          lo[k] = a[1]; hi[k] = a[m]
          best = 1                          # the note of the run closest to the median
          for (j = 2; j <= m; j++)
            if ((v[k, j] - med[k]) ^ 2 < (v[k, best] - med[k]) ^ 2) best = j
          note[k] = runnote[k, best]
        } else {
          med[k] = dnf[k]; lo[k] = dnf[k]; hi[k] = dnf[k]; status[k] = dnfstatus[k]; note[k] = dnfnote[k]
        }
        if (method[k] == "cps") cps[step[k]] = med[k]
      }
      for (i = 1; i <= nk; i++) {
        k = order[i]
        runs = n[k] + (k in dnf && status[k] != "not_run" ? 1 : 0)
        ratio = (step[k] in cps && cps[step[k]] > 0) ? sprintf("%.3f", med[k] / cps[step[k]]) : ""
        eps = med[k] > 0 ? sprintf("%.0f", items[k] / med[k]) : ""
        print size, events, step[k], method[k], runs, sprintf("%.3f", med[k]), sprintf("%.3f", lo[k]),
              sprintf("%.3f", hi[k]), eps, ratio, (k in rss ? rss[k] : ""), status[k], note[k]
      }
    }' "$1"
}

# The AWK helpers shared by the Markdown tables.
AWK_FMT='
  function group(x,   s) {            # 1234567 -> 1,234,567
    x = sprintf("%.0f", x); s = ""
    while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
    return x s
  }
  function secs(x) {
    if (x >= 100) return sprintf("%.0f", x)
    if (x >= 10) return sprintf("%.1f", x)
    return sprintf("%.2f", x)
  }
  function ratio(r, st,   f) {
    if (st == "failed") return "failed"
    if (st == "not_run") return "not run"
    if (r == "") return ""
    f = "%.2f×"
    if (r >= 1) f = "%.1f×"
    if (r >= 10) f = "%.0f×"
    return (st == "dnf" ? "> " : "") sprintf(f, r)
  }
  function mib(b) { return b == "" ? "" : sprintf("%.0f MiB", b / 1048576) }
  function stepname(s) {
    if (s == "stitch") return "stitching from scratch"
    if (s == "stitch_incremental") return "incremental stitching (new events)"
    if (s == "stitch_failing") return "stitching from scratch, some events failing"
    if (s == "attributes") return "attributes from scratch"
    if (s == "attributes_incremental") return "incremental attributes (1 % active)"
    return s
  }
  function methodname(m) {
    if (m == "cps") return "CPS"
    if (m == "pgrouting") return "pgRouting pgr_connectedComponents"
    if (m == "labelprop") return "SQL label propagation"
    if (m == "floor") return "floor: COPY out + COPY in"
    if (m == "clean") return "CPS, no event failing"
    if (m == "sql") return "hand-written set-based SQL"
    if (m == "per_entity") return "per-entity queries (extrapolated)"
    return m
  }
'

# overview SUMMARY_TSV...: the sizes x steps table.
overview() {
  awk -F'\t' "$AWK_FMT"'
    FNR == 1 { next }
    {
      k = $1 SUBSEP $3
      if (!(k in seen)) { seen[k] = 1; rows[++nr] = k; sz[k] = $1; ev[k] = $2; st[k] = $3 }
      if ($4 == "cps") { med[k] = $6; lo[k] = $7; hi[k] = $8; eps[k] = $9; rss[k] = $11; runs[k] = $5; note[k] = $13 }
      else { r[k, $4] = ratio($10, $12) }
      if ($3 == "attributes" && $4 == "cps") full[$1] = $6
    }
    END {
      print "| size | step | CPS seconds: median (min–max), runs | events/s | vs pgRouting | vs SQL label propagation | vs floor | vs hand-written SQL | vs per-entity queries | peak RSS |"
      print "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
      for (i = 1; i <= nr; i++) {
        k = rows[i]
        cell = secs(med[k]) " (" secs(lo[k]) "–" secs(hi[k]) "), " runs[k]
        if (st[k] == "attributes_incremental" && full[sz[k]] > 0)
          cell = cell "; " sprintf("%.1f %%", 100 * med[k] / full[sz[k]]) " of full"
        printf "| %s (%s events) | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sz[k], group(ev[k]), stepname(st[k]),
               cell, group(eps[k]), r[k, "pgrouting"], r[k, "labelprop"], r[k, "floor"], r[k, "sql"], r[k, "per_entity"], mib(rss[k])
      }
    }' "$@"
}

# details SUMMARY_TSV: every method of one size.
details() {
  awk -F'\t' "$AWK_FMT"'
    NR == 1 { next }
    {
      med = ($12 == "dnf" ? "> " : "") secs($6)
      range = secs($7) "–" secs($8)
      eps = ($12 == "dnf" ? "< " : "") group($9)
      if ($12 == "failed" || $12 == "not_run") { med = ratio("", $12); range = ""; eps = "" }
      printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", stepname($3), methodname($4), $5, med,
             range, eps, ($4 == "cps" ? "1" : ratio($10, $12)), $13
    }' "$1"
}

report_size() {
  local base=$1
  summarize "$base.runs.tsv" >"$base.tsv"
  local size events
  size=$(awk -F'\t' 'NR == 2 { print $1 }' "$base.tsv")
  events=$(awk -F'\t' 'NR == 2 { print $2 }' "$base.tsv")
  m() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$base.machine.tsv"; }
  local huge=''
  [[ -z $(m huge_pages) ]] || huge=$'\n\n'"Shared memory in 2 MiB huge pages: $(m huge_pages)."
  cat <<EOF
# CPS benchmark: $size ($events events)

$(m date); CPS $(m cps); $(m cpus) CPUs, $(m memory) memory, disk $(m disk);
$(m postgresql).

Server settings: \`$(m settings)\`$huge

1-minute load average right after each measured run: $(awk -F'\t' 'NR > 1 && $11 != "" {
  if (lo == "" || $11 < lo) lo = $11; if ($11 > hi) hi = $11 } END { print (lo == "" ? "?" : lo "–" hi) }' "$base.runs.tsv")
(2 CPUs: above 2, other work competed with the benchmark).

Ratios are the alternative's median time divided by CPS's (above 1: CPS is
faster). The per-entity queries ran for a sample of entities and are
extrapolated to the population. Every alternative's result was checked
against CPS's (same partition of the events; same attribute values).

$(overview "$base.tsv")

| step | method | runs | median s | min–max s | events/s | time ÷ CPS's | note |
|---|---|---:|---:|---:|---:|---:|---|
$(details "$base.tsv")
EOF
}

# The latest summary of every size in DIR, smallest size first.
latest_summaries() {
  local dir=$1 f size
  declare -A latest=()
  for f in "$dir"/*-????-??-??.tsv; do
    [[ -e $f ]] || continue
    size=$(basename "$f")
    size=${size%-????-??-??.tsv}
    latest[$size]=$f # names sort by date: the last one wins
  done
  for size in "${!latest[@]}"; do
    printf '%s\t%s\n' "$(awk -F'\t' 'NR == 2 { print $2 }' "${latest[$size]}")" "${latest[$size]}"
  done | sort -n | cut -f2
}

report_all() {
  local dir=$1 files
  mapfile -t files < <(latest_summaries "$dir")
  ((${#files[@]})) || { echo "report.sh: no results in $dir" >&2; exit 1; }
  {
    echo "# CPS benchmark: latest results of every size"
    echo
    echo "From: $(printf '%s ' "${files[@]##*/}")"
    echo
    overview "${files[@]}"
  } >"$dir/latest.md"
  chart "$dir/time-vs-size.png" "${files[@]}"
}

# chart PNG SUMMARY_TSV...: time against size, log-log, one line per method;
# stitching on the left, attributes on the right. Runs that did not finish
# are drawn at their time limit with an open marker.
chart() {
  local png=$1; shift
  local tmp
  tmp=$(mktemp -d)
  # one data file per (step, method): events seconds
  awk -F'\t' -v dir="$tmp" 'FNR == 1 { next }
    $12 != "failed" && $12 != "not_run" { f = dir "/" $3 "-" $4 (($12 == "dnf") ? "-dnf" : "") ".dat"; print $2, $6 >> f }' "$@"
  local series=(
    "stitch-cps|CPS stitching from scratch|1|lc rgb '#1b5e20' lw 3 pt 7"
    "stitch-pgrouting|pgRouting pgr_connectedComponents|1|lc rgb '#1565c0' lw 2 pt 5"
    "stitch-labelprop|SQL label propagation|1|lc rgb '#c62828' lw 2 pt 9"
    "stitch-floor|floor: COPY out + COPY in|1|lc rgb '#757575' lw 2 dt 2 pt 6"
    "stitch_incremental-cps|CPS incremental (new events)|1|lc rgb '#66bb6a' lw 2 pt 13"
    "attributes-cps|CPS attributes from scratch|2|lc rgb '#1b5e20' lw 3 pt 7"
    "attributes-sql|hand-written set-based SQL|2|lc rgb '#1565c0' lw 2 pt 5"
    "attributes-per_entity|per-entity queries (extrapolated)|2|lc rgb '#c62828' lw 2 pt 9"
    "attributes_incremental-cps|CPS incremental (1 % active)|2|lc rgb '#66bb6a' lw 2 pt 13"
  )
  local panel s key title style plots1=() plots2=()
  for s in "${series[@]}"; do
    IFS='|' read -r key title panel style <<<"$s"
    local p=()
    [[ -s $tmp/$key.dat ]] && p+=("'$tmp/$key.dat' using 1:2 with linespoints $style title '$title'")
    [[ -s $tmp/$key-dnf.dat ]] &&
      p+=("'$tmp/$key-dnf.dat' using 1:2 with points ${style% pt *} pt 8 ps 2 title '$title: did not finish (time limit)'")
    ((${#p[@]})) || continue
    if [[ $panel == 1 ]]; then plots1+=("${p[@]}"); else plots2+=("${p[@]}"); fi
  done
  join() { local IFS=,; echo "$*"; }
  local xrange
  xrange=$(awk -F'\t' 'FNR > 1 { if (!lo || $2 < lo) lo = $2; if ($2 > hi) hi = $2 }
                       END { printf "[%g:%g]", lo / 2, hi * 2 }' "$@")
  gnuplot <<EOF
set terminal pngcairo size 1500,650 font 'DejaVu Sans,10' noenhanced
set output '$png'
set xrange $xrange
set multiplot layout 1,2 title 'CPS benchmark: median wall-clock seconds against events in the CDP (log-log)'
set logscale xy
set grid xtics ytics mxtics mytics lc rgb '#dddddd'
set xlabel 'events'
set ylabel 'seconds'
set format x '%.0s%c'
set key top left box opaque font ',9'
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
set title 'Stitching'
plot $(join "${plots1[@]}")
set title 'Attribute calculation'
plot $(join "${plots2[@]}")
unset multiplot
EOF
  rm -rf "$tmp"
}

case ${1:-} in
  size) report_size "$2" ;;
  all) report_all "$2" ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
