# Property: the decimal module (src/decimal.c, driven through decimal_tool)
# computes sum(numeric) and avg(numeric) of random groups with exactly
# PostgreSQL's output text, orders random pairs and whole columns as ORDER BY
# does, and normalizes texts as trim_scale does.
#
# Values: scales 0..20 (up to 35 for magnitudes down to 1e-30), magnitudes up
# to 1e31, both signs, zeros, trailing zeros, non-canonical spellings
# (+1, 007.50, .5, -0.00, nan, -inf), NaN and infinities; 1..50 values a
# group, some groups built to cancel to zero. NGROUPS, PAIRS and SEED can be set.
source "$(dirname "$0")/lib.sh"
: "${CPS_DECIMAL_TOOL:?run through ctest, or set CPS_DECIMAL_TOOL to build/tests/decimal_tool}"
NGROUPS=${NGROUPS:-4000}
PAIRS=${PAIRS:-20000}
SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
echo "test_decimal_pg: SEED=$SEED NGROUPS=$NGROUPS PAIRS=$PAIRS"
newdb

# Random numeric texts (awk, seeded): value() is one number, as text.
AWK_LIB='
function digits(n,   s, i) { s = ""; for (i = 0; i < n; i++) s = s int(rand() * 10); return s }
function zeros(n,   s) { s = ""; while (n-- > 0) s = s "0"; return s }
function special(   r) {
  r = int(rand() * 8)
  return r == 0 ? "NaN" : r == 1 ? "nan" : r == 2 ? "Infinity" : r == 3 ? "-Infinity" : \
         r == 4 ? "inf" : r == 5 ? "-inf" : r == 6 ? "+Infinity" : "infinity"
}
function finite(   r, ni, sc, ip, fp, sign, v) {
  r = rand()
  if (r < 0.04) { return (rand() < 0.5 ? "-" : "") "0" (rand() < 0.5 ? "." zeros(int(rand() * 6) + 1) : "") }
  if (r < 0.15) { v = int(rand() * 21); return (rand() < 0.4 ? "-" : "") v }
  ni = rand() < 0.5 ? int(rand() * 8) : int(rand() * 32)
  sc = rand() < 0.3 ? int(rand() * 4) : int(rand() * 21)
  ip = ni == 0 ? "0" : (1 + int(rand() * 9)) digits(ni - 1)
  fp = digits(sc)
  if (ni == 0 && rand() < 0.4) {            # tiny: down to 1e-30
    fp = zeros(int(rand() * 30)) (1 + int(rand() * 9)) digits(int(rand() * 6))
  }
  if (fp != "" && rand() < 0.2) fp = substr(fp, 1, length(fp) - 1) "0"
  sign = rand() < 0.45 ? "-" : ""
  v = ip (fp != "" ? "." fp : "")
  r = rand()                                 # spellings numeric_out never uses
  if (r < 0.02) v = "00" v
  else if (r < 0.04 && sign == "") v = "+" v
  else if (r < 0.05 && ip == "0" && fp != "") v = "." fp
  else if (r < 0.06 && fp == "") v = v "."
  return sign v
}
function value(p) { return rand() < p ? special() : finite() }
function negate(v) { return substr(v, 1, 1) == "-" ? substr(v, 2) : substr(v, 1, 1) == "+" ? "-" substr(v, 2) : "-" v }
'

# groups: "g<TAB>value", groups contiguous; rows: "i<TAB>value" for the same values.
awk -v seed="$SEED" -v ngroups="$NGROUPS" "$AWK_LIB"'
BEGIN {
  srand(seed)
  for (g = 1; g <= ngroups; g++) {
    n = rand() < 0.3 ? 1 + int(rand() * 3) : 1 + int(rand() * 50)
    r = rand()
    if (r < 0.06) {                          # specials among finite values
      for (k = 0; k < n; k++) print g "\t" value(0.15)
      print g "\t" special()
    } else if (r < 0.16) {                   # cancels to zero (or nearly)
      for (k = 0; k < n; k++) { v = finite(); print g "\t" v; print g "\t" negate(v) }
      if (rand() < 0.5) print g "\t" finite()
    } else {
      for (k = 0; k < n; k++) print g "\t" finite()
    }
  }
}' >"$TEST_TMP/groups.tsv"
awk -F '\t' '{ print NR "\t" $2 }' "$TEST_TMP/groups.tsv" >"$TEST_TMP/rows.tsv"
nvalues=$(wc -l <"$TEST_TMP/groups.tsv")

sql "CREATE TABLE vals (i int PRIMARY KEY, g int NOT NULL, v text NOT NULL)"
paste <(cut -f1 "$TEST_TMP/rows.tsv") <(cut -f1 "$TEST_TMP/groups.tsv") <(cut -f2 "$TEST_TMP/rows.tsv") |
  psql -X -q -v ON_ERROR_STOP=1 -c "\\copy vals FROM pstdin"

pgq() { psql -X -q -v ON_ERROR_STOP=1 -At -F $'\t' -c "$1"; }

# compare WHAT EXPECTED_FILE ACTUAL_FILE: identical, or show the first differences.
compare() {
  if ! diff "$2" "$3" >"$TEST_TMP/diff"; then
    head -20 "$TEST_TMP/diff" >&2
    fail "$1 differs from PostgreSQL ($(grep -c '^<' "$TEST_TMP/diff") lines; SEED=$SEED)"
  fi
}

# sum and avg, from the texts as written and from PostgreSQL's canonical output.
pgq "SELECT g, sum(v::numeric), avg(v::numeric) FROM vals GROUP BY g ORDER BY g" >"$TEST_TMP/pg_agg"
"$CPS_DECIMAL_TOOL" agg <"$TEST_TMP/groups.tsv" >"$TEST_TMP/c_agg"
compare "sum/avg" "$TEST_TMP/pg_agg" "$TEST_TMP/c_agg"
pgq "SELECT g, v::numeric FROM vals ORDER BY g, i" | "$CPS_DECIMAL_TOOL" agg >"$TEST_TMP/c_agg2"
compare "sum/avg of canonical texts" "$TEST_TMP/pg_agg" "$TEST_TMP/c_agg2"
nzero=$(awk -F '\t' '$2 ~ /^0(\.0*)?$/' "$TEST_TMP/pg_agg" | wc -l)
nspecial=$(awk -F '\t' '$2 ~ /[a-zA-Z]/' "$TEST_TMP/pg_agg" | wc -l)
[[ $nzero -gt 10 && $nspecial -gt 10 ]] || fail "degenerate data: $nzero zero sums, $nspecial special sums"

# The whole column in ORDER BY order (ties by row number), and trim_scale.
pgq "SELECT i FROM vals ORDER BY v::numeric, i" >"$TEST_TMP/pg_sort"
"$CPS_DECIMAL_TOOL" sort <"$TEST_TMP/rows.tsv" >"$TEST_TMP/c_sort"
compare "ORDER BY" "$TEST_TMP/pg_sort" "$TEST_TMP/c_sort"
pgq "SELECT i, trim_scale(v::numeric) FROM vals ORDER BY i" >"$TEST_TMP/pg_norm"
"$CPS_DECIMAL_TOOL" norm <"$TEST_TMP/rows.tsv" >"$TEST_TMP/c_norm"
compare "normalized text" "$TEST_TMP/pg_norm" "$TEST_TMP/c_norm"

# Random pairs, a third of them equal or nearly: the same value respelled,
# negated, or differing in the last digit.
awk -v seed="$((SEED + 1))" -v npairs="$PAIRS" "$AWK_LIB"'
function respell(v,   r) {
  r = rand()
  if (v ~ /[a-zA-Z]/) return v
  if (r < 0.4) return v (index(v, ".") ? "" : ".") zeros(1 + int(rand() * 3))
  if (r < 0.6) return negate(v)
  if (r < 0.8) return v (index(v, ".") ? "" : ".") zeros(int(rand() * 3)) "1"
  return substr(v, 1, 1) ~ /[-+]/ ? substr(v, 1, 1) "0" substr(v, 2) : "0" v
}
BEGIN {
  srand(seed)
  for (i = 1; i <= npairs; i++) {
    a = value(0.05)
    b = rand() < 0.35 ? respell(a) : value(0.05)
    print i "\t" a "\t" b
  }
}' >"$TEST_TMP/pairs.tsv"
sql "CREATE TABLE pairs (i int PRIMARY KEY, a text NOT NULL, b text NOT NULL)"
psql -X -q -v ON_ERROR_STOP=1 -c "\\copy pairs FROM '$TEST_TMP/pairs.tsv'"
pgq "SELECT i, CASE WHEN a::numeric < b::numeric THEN -1 WHEN a::numeric = b::numeric THEN 0 ELSE 1 END
       FROM pairs ORDER BY i" >"$TEST_TMP/pg_cmp"
"$CPS_DECIMAL_TOOL" cmp <"$TEST_TMP/pairs.tsv" >"$TEST_TMP/c_cmp"
compare "comparison" "$TEST_TMP/pg_cmp" "$TEST_TMP/c_cmp"
nequal=$(grep -c $'\t0$' "$TEST_TMP/c_cmp" || true)
[[ $nequal -gt $((PAIRS / 20)) ]] || fail "degenerate pairs: only $nequal equal"

echo "test_decimal_pg: $NGROUPS groups ($nvalues values, $nzero zero sums, $nspecial special)," \
  "$PAIRS pairs ($nequal equal) agree with PostgreSQL"
pass
