# tests/shlib.sh: the helpers the shell tests (tests/cli_*.sh) share.
# (Not named cli_*.sh: tests/CMakeLists.txt runs every tests/cli_*.sh.)
#
#   set -u
#   source "${ARK_SRC:?}/tests/shlib.sh"
#   test_begin cli_NAME       # $tmp (removed at exit), pass=0 fail=0, $py
#   ...checks...
#   test_end                  # "cli_NAME: N passed, M failed"; status 0 iff M = 0
#
# Every check adds one to $pass (ok) or to $fail (bad, which prints
# "FAIL: ..." and, where there is one, the output that explains it).  The
# last command's output stays in $tmp/out and $tmp/err (check_named,
# expect_error) or $tmp/log (check) for the caller to look at further.

# test_begin NAME: the scratch folder $tmp=$ARK_TMP/NAME.PID (removed when the
# script exits), the counters, and $py, the Python with numpy.
test_begin() {
  test_name=$1
  tmp=${ARK_TMP:-/tmp}/$1.$$
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  pass=0 fail=0
  py=/usr/bin/python3
  [ -x "$py" ] || py=python3
}

# test_end: the final line; the status (the script's, as its last command)
# is non-zero when any check failed.
test_end() {
  echo "$test_name: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# check CMD...: the command exits 0 (its output, stdout and stderr together in
# $tmp/log, is printed when it does not).
check() {
  if "$@" >"$tmp/log" 2>&1; then ok; else bad "$*"; cat "$tmp/log"; fi
}

# check_named NAME CMD...: the command exits 0; its stdout stays in $tmp/out,
# its stderr in $tmp/err (printed when it fails).
check_named() {
  local name=$1; shift
  if "$@" >"$tmp/out" 2>"$tmp/err"; then ok; else bad "$name (exit $?)"; cat "$tmp/err"; fi
}

# expect_error NAME PATTERN CMD...: exit status 1..127 (an error, not a crash)
# and stderr matching PATTERN (an extended regular expression).
expect_error() {
  local name=$1 pat=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "$name: exit $rc"; cat "$tmp/err"; return; fi
  if ! grep -qE -- "$pat" "$tmp/err"; then bad "$name: stderr lacks /$pat/"; cat "$tmp/err"; return; fi
  ok
}

# pycheck NAME SCRIPT ARGS...: `$py -c SCRIPT ARGS...` exits 0 (an assertion
# in Python; its output is printed when it does not).
pycheck() {
  local name=$1 script=$2; shift 2
  if $py -c "$script" "$@" >"$tmp/pyout" 2>&1; then ok; else bad "$name"; cat "$tmp/pyout"; fi
}

# has FILE TEXT...: FILE holds each TEXT (a fixed string); a predicate for
# check (`check has FILE TEXT...`): prints what is missing and the file.
has() {
  local f=$1; shift
  for p in "$@"; do grep -qF -- "$p" "$f" || { echo "missing: $p"; cat "$f"; return 1; }; done
}

# tally FILE NAME [STATUS]: a checker's verdicts, one line each, "PASS ..." or
# "FAIL ...": every line counts; the FAIL lines are printed.  A checker that
# reported no PASS, or whose exit STATUS (when given) is not 0, is one more
# failure (with the end of its output).
tally() {
  local n f
  n=$(grep -c '^PASS' "$1"); f=$(grep -c '^FAIL' "$1")
  pass=$((pass + n)); fail=$((fail + f))
  grep '^FAIL' "$1"
  if [ "$n" -eq 0 ] || [ "${3:-0}" -ne 0 ]; then
    bad "$2: the checker reported $n PASS (exit ${3:-0})"; grep -v '^PASS\|^FAIL' "$1" | tail -20
  fi
}
