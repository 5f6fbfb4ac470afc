#!/usr/bin/env bash
# The whole test suite (what CI runs): ./scripts/test.sh [STAGE|GROUP...]   (default: every stage, in ALL's order)
# Stages: sanity-LINE and unit-LINE for every supported ansible-core line (scripts/setup.sh's CORES), lint, build,
# integration-2.19 (all), integration-2.16 and integration-2.22 (the core_matrix subset), fleet. Groups: `sanity`,
# `unit` and `integration` are every stage of that kind. lint, build and fleet use ansible-core 2.19 (MAIN).
# scripts/setup.sh says where each line runs (.venv/lines.txt): on this machine, or in a root file system of the other
# Debian release (tests/rootfs), which this script enters for that line's stages (the checkout at the same path inside). A stage
# whose line no Python here runs is reported "not run" (OCSP_TEST_REQUIRE_ALL=1 counts it as failed).
# Every requested stage runs; the exit code is non-zero when any of them failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
PYTHON=${PYTHON:-python3}
ALL=(sanity-2.16 sanity-2.18 sanity-2.19 sanity-2.20 sanity-2.21 sanity-2.22
     unit-2.16 unit-2.18 unit-2.19 unit-2.20 unit-2.21 unit-2.22
     lint build integration-2.19 integration-2.16 integration-2.22 fleet)
MAIN=2.19
# Inside the root file system (this script calls itself there for one stage): no set-up, no dispatch, no summary.
INNER=${OCSP_TEST_INNER:-}

STAGES=()
for s in "$@"; do
  case $s in
    sanity | unit | integration)
      for a in "${ALL[@]}"; do [[ $a == "$s"-* ]] && STAGES+=("$a"); done ;;
    *)
      [[ " ${ALL[*]} " == *" $s "* ]] || {
        echo "test.sh: unknown stage '$s' (one of: ${ALL[*]}; groups: sanity unit integration)" >&2; exit 2; }
      STAGES+=("$s") ;;
  esac
done
((${#STAGES[@]})) || STAGES=("${ALL[@]}")

line_of() {  # stage -> the ansible-core line it runs
  case $1 in
    *-2.*) echo "${1##*-}" ;;
    *) echo "$MAIN" ;;
  esac
}

if [[ -z $INNER ]]; then
  lines=()
  for s in "${STAGES[@]}"; do
    l=$(line_of "$s")
    [[ " ${lines[*]} " == *" $l "* ]] || lines+=("$l")
  done
  ./scripts/setup.sh "${lines[@]}" || { echo "test.sh: set-up failed" >&2; exit 1; }
fi
# Where each line runs and on what (scripts/setup.sh): WHERE[line] = host | rootfs:RECIPE | none.
declare -A WHERE WHY
if [[ -z $INNER ]]; then
  while read -r l where _pyv _core why; do
    [[ $l == \#* || -z $l ]] && continue
    WHERE[$l]=$where WHY[$l]=$why
  done < "$ROOT/.venv/lines.txt"
fi

V19=$ROOT/.venv/ansible-$MAIN
venv() { echo "$ROOT/.venv/ansible-$1"; }
# Outside the checkout: inside it, ansible-test would ask the checkout's git, which ignores .cache. Inside the root
# file system, its /tmp is the run's own (the overlay's): no other checkout's run shares it.
if [[ -n $INNER ]]; then
  WORK=${OCSP_TEST_WORK:-/tmp/ocsp-stapling-test}
else
  WORK=${OCSP_TEST_WORK:-$HOME/.cache/ocsp-stapling-test}
fi
TREE=$WORK/ansible_collections/ocsp/stapling
export ANSIBLE_NOCOLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0
# The main venv's tools (ansible, ansible-doc, ...) are the ones on PATH; the other lines are called by path.
export PATH=$V19/bin:$PATH

# ansible-test and the doc linters need the collection in an ansible_collections/ocsp/stapling
# tree (a symlink is not enough: ansible-test resolves the working directory). Copy the files
# git knows plus new ones it does not ignore.
copy_tree() {
  rm -rf "$TREE"
  mkdir -p "$TREE"
  git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$TREE/"
}

# ansible-test runs the version-specific sanity tests (compile, import) with every python3.X it
# finds on PATH. pyenv's shims answer for versions that are installed but not selected and then
# fail ("command not found"), so hide the shims and offer each interpreter that really runs.
python_links() {
  local dir=$WORK/pythons v cand  # the run's own: a stage in the root file system may run beside one here
  rm -rf "$dir"
  mkdir -p "$dir"
  for v in 3.8 3.9 3.10 3.11 3.12 3.13 3.14; do
    for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v" /usr/bin/python"$v" /usr/local/bin/python"$v"; do
      if [[ -x $cand ]] && "$cand" -c 'import venv' 2>/dev/null; then
        ln -s "$cand" "$dir/python$v"
        break
      fi
    done
  done
  local path
  path=$(tr ':' '\n' <<<"$PATH" | grep -v '/\.pyenv/shims$' | paste -sd:)
  echo "$dir:$path"
}

stage_sanity() {  # venv [ansible-test options...]
  local venv=$1; shift
  copy_tree
  local path
  path=$(python_links)
  echo "interpreters offered to ansible-test: $(cd "$WORK/pythons" && echo python*)"
  local log=$WORK/sanity.log
  # Inside the root file system ansible-test keeps its venvs in the home every run there shares: two sanity stages
  # of the lanes take turns (flock), so that neither meets a venv the other is still making.
  local lock=()
  [[ -n $INNER ]] && lock=(flock "$HOME/.ansible-test.lock")
  (cd "$TREE" && PATH=$path "${lock[@]}" "$venv/bin/ansible-test" sanity --venv --color no "$@" 2>&1) | tee "$log" \
    | grep -vE '^(WARNING: Location|Looking in|  Attempting uninstall|    Found existing|    Uninstalling)'
  local rc=${PIPESTATUS[0]}
  if grep -q "All targets skipped" "$log"; then
    echo "sanity ran on no file: the copied tree is not what ansible-test sees"
    return 1
  fi
  echo "sanity tests run: $(grep -c '^Running sanity test' "$log")"
  return "$rc"
}

stage_unit() {  # venv
  "$1/bin/python" -m pytest -p no:cacheprovider -q tests/unit
}

stage_lint() {
  local rc=0
  echo "--- ansible-lint (production profile, offline)"
  # Our playbooks use our modules by FQCN: let ansible-lint find this checkout as ocsp.stapling.
  mkdir -p "$ROOT/.cache/collections/ansible_collections/ocsp"
  ln -sfn "$ROOT" "$ROOT/.cache/collections/ansible_collections/ocsp/stapling"
  ANSIBLE_COLLECTIONS_PATH=$ROOT/.cache/collections \
    "$V19/bin/ansible-lint" --offline --profile production --nocolor || rc=1
  echo "--- antsibull-changelog lint"
  "$V19/bin/antsibull-changelog" lint || rc=1
  echo "--- antsibull-docs lint-collection-docs"
  copy_tree
  (cd "$TREE" && ANSIBLE_COLLECTIONS_PATH=$WORK \
     "$V19/bin/antsibull-docs" lint-collection-docs --plugin-docs --skip-rstcheck .) || rc=1
  echo "--- shellcheck"
  shellcheck scripts/*.sh .ci/run || rc=1
  return $rc
}

stage_build() {
  local tmp rc=0
  tmp=$(mktemp -d)
  "$V19/bin/ansible-galaxy" collection build --output-path "$tmp" --force . || return 1
  local tarball
  tarball=$(ls "$tmp"/ocsp-stapling-*.tar.gz)
  echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
  "$V19/bin/ansible-galaxy" collection install --offline -p "$tmp/installed" "$tarball" || rc=1
  local listed expected
  listed=$(ANSIBLE_COLLECTIONS_PATH=$tmp/installed "$V19/bin/ansible-doc" -l ocsp.stapling 2>&1) || rc=1
  echo "$listed"
  for m in plugins/modules/*.py; do
    [[ -e $m ]] || continue
    expected=ocsp.stapling.$(basename "$m" .py)
    grep -q "^$expected " <<<"$listed" || { echo "ansible-doc -l does not list $expected"; rc=1; }
    ANSIBLE_COLLECTIONS_PATH=$tmp/installed "$V19/bin/ansible-doc" "$expected" >/dev/null || rc=1
  done
  # What the build must not ship.
  if tar -tzf "$tarball" | grep -E '(^|/)(tests/(lab|unit|integration|fleet)|scripts|\.venv|\.cache|benchmarks|build)/'; then
    echo "the tarball ships test/dev files"; rc=1
  fi
  # The docs site, from what the tarball installed (build/docs/build/html/index.html).
  echo "--- docs site (antsibull-docs sphinx-init + Sphinx, offline, warnings as errors)"
  ./scripts/docs.sh "$tmp/installed" "$ROOT/build/docs" || rc=1
  rm -rf "$tmp"
  return $rc
}

# Integration tests spend much of their time waiting on Apache, responders and ansible-playbook start-ups: pytest-xdist
# runs them in $OCSP_TEST_WORKERS processes (default 3; each has its own lab, ports and namespaces).
stage_integration() {  # venv [pytest options...]
  local venv=$1; shift
  "$venv/bin/python" -m pytest -p no:cacheprovider -q -rs --durations=12 -n "${OCSP_TEST_WORKERS:-3}" "$@" tests/integration
}

# Real hosts on this machine (tests/fleet/README.md): the base image is built once (debootstrap, cached under
# /var/cache/ocsp-stapling-fleet/<recipe hash>/), then a fleet of $OCSP_FLEET_N hosts (default 6) for the session.
stage_fleet() {
  "$V19/bin/python" -m pytest -p no:cacheprovider -q -rs --durations=0 tests/fleet
}

# The stage itself, here (on this machine, or already inside the root file system).
run_here() {  # stage
  local line
  line=$(line_of "$1")
  case $1 in
    # The floor and the main line: compile/import on every Python found; the others on their venv's Python (what
    # differs by ansible-core line is checked; the per-Python tests do not depend on it).
    sanity-2.16 | sanity-"$MAIN") stage_sanity "$(venv "$line")" ;;
    sanity-*) stage_sanity "$(venv "$line")" --python "$("$(venv "$line")/bin/python" -c \
                'import sys; print("%d.%d" % sys.version_info[:2])')" ;;
    unit-*) stage_unit "$(venv "$line")" ;;
    lint) stage_lint ;;
    build) stage_build ;;
    integration-"$MAIN") stage_integration "$V19" ;;
    # The floor and the newest line: the tests marked core_matrix (every module, the role and every playbook once;
    # see tests/integration/conftest.py). The whole set on three lines would cost three times the budget's share.
    integration-*)
      # Inside a root file system the managed node's Python is Debian's own (python3-cryptography, python3-openssl):
      # the modules run as on a host of that release. (On this machine it stays the venv's, as for 2.19.)
      if [[ -n $INNER ]]; then export OCSP_TEST_NODE_PYTHON=${OCSP_TEST_NODE_PYTHON:-/usr/bin/python3}; fi
      stage_integration "$(venv "$line")" -m "core_matrix and not toolchain" ;;
    fleet) stage_fleet ;;
  esac
}

NOT_RUN=99  # run_stage's status for a stage whose line no Python here runs
# The checkout's git directory, when it lies outside the checkout (a git worktree): the sanity and lint stages list
# the files git knows, inside the root file system too.
GIT_BIND=()
git_common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
if [[ -n $git_common && $git_common != "$ROOT"/* ]]; then
  GIT_BIND=(--bind-ro "$git_common")
fi
run_stage() {  # stage
  local line where
  line=$(line_of "$1")
  where=${WHERE[$line]:-host}
  case $where in
    host) run_here "$1" ;;
    rootfs:*)
      local recipe=${where#rootfs:}
      echo "(in the $(PYTHONPATH=tests "$PYTHON" -m rootfs --recipe "$recipe" release) root file system: $(
        PYTHONPATH=tests "$PYTHON" -m rootfs --recipe "$recipe" info | "$PYTHON" -c \
          'import json,sys; v=json.load(sys.stdin)["versions"]; print(", ".join(k+" "+v[k] for k in sorted(v)))'))"
      PYTHONPATH=tests "$PYTHON" -m rootfs --recipe "$recipe" run --bind "$ROOT" "${GIT_BIND[@]}" -- \
        env OCSP_TEST_INNER=1 ./scripts/test.sh "$1" ;;
    none)
      echo "not run: ansible-core $line ${WHY[$line]}"
      return $NOT_RUN ;;
  esac
}

if [[ -n $INNER ]]; then
  rc=0
  for s in "${STAGES[@]}"; do run_here "$s" || rc=1; done
  exit $rc
fi

declare -A RESULT SECONDS_TAKEN
fail=0
not_run=0
record() {  # name rc seconds
  SECONDS_TAKEN[$1]=$3
  if (($2 == 0)); then
    RESULT[$1]=passed
  elif (($2 == NOT_RUN)); then
    RESULT[$1]="not run (no Python for ansible-core $(line_of "$1") here)"
    not_run=$((not_run + 1))
    [[ ${OCSP_TEST_REQUIRE_ALL:-0} == 1 ]] && fail=1
  else
    RESULT[$1]="FAILED (exit $2)"
    fail=1
  fi
  echo "=== stage $1: ${RESULT[$1]} in $3s"
}

# Two lanes. The fleet stage mostly waits (SSH, its hosts' Apache, reloads) and uses about half a core, the sanity,
# unit, lint and build stages about one: run together they fit the 2 cores CI has (serially the suite took 23.5
# minutes, then more than 25 with the lines of issue 23). So when the fleet and other stages are asked for, the fleet
# starts in a lane of its own beside the others, and once it is done that lane takes stages that run inside a root
# file system of the other Debian release (their own /tmp, mounts and PIDs: nothing they make meets a stage on this
# machine) while this one goes on with the machine's stages; whichever lane is free claims the next (mkdir in $WORK/claims is
# the claim). At most two stages run at any time, as before. The lane's output is kept in $WORK/lane/ and printed
# when this lane is done. OCSP_TEST_SERIAL=1 runs everything in order.
lane=""
LANE_DIR=$WORK/lane
CLAIMS=$WORK/claims
MOVABLE=()  # stages either lane may run: those inside the root file system
if [[ ${OCSP_TEST_SERIAL:-0} != 1 && ${#STAGES[@]} -gt 1 && " ${STAGES[*]} " == *" fleet "* ]]; then
  lane=$LANE_DIR
  rm -rf "$LANE_DIR" "$CLAIMS"
  mkdir -p "$LANE_DIR" "$CLAIMS"
  for s in "${STAGES[@]}"; do
    [[ ${WHERE[$(line_of "$s")]:-host} == rootfs:* ]] && MOVABLE+=("$s")
  done
fi
claim() { mkdir "$CLAIMS/$1" 2>/dev/null; }
lane_run() {  # stage: run it in the lane, its output, status and seconds in $LANE_DIR
  local start rc
  start=$(date +%s)
  run_stage "$1" >"$LANE_DIR/$1.log" 2>&1
  rc=$?
  echo "$rc $(( $(date +%s) - start ))" >"$LANE_DIR/$1.status"
}
if [[ -n $lane ]]; then
  echo "=== stage fleet: started in a lane beside the other stages (output: $LANE_DIR/, printed at the end)"
  claim fleet
  (
    lane_run fleet
    for s in "${MOVABLE[@]}"; do
      claim "$s" && lane_run "$s"
    done
  ) &
  lane_pid=$!
  # Interrupted, pass it on to the lane's processes (the fleet's pytest takes its hosts down on SIGINT).
  trap 'pkill -INT -P "$lane_pid"; wait "$lane_pid"; exit 130' INT TERM
fi

for s in "${STAGES[@]}"; do
  if [[ -n $lane ]]; then
    [[ $s == fleet || " ${MOVABLE[*]} " == *" $s "* ]] && continue
  fi
  echo "=== stage $s"
  start=$(date +%s)
  run_stage "$s"
  record "$s" $? $(( $(date +%s) - start ))
done

if [[ -n $lane ]]; then
  for s in "${MOVABLE[@]}"; do
    claim "$s" || continue
    echo "=== stage $s"
    start=$(date +%s)
    run_stage "$s"
    record "$s" $? $(( $(date +%s) - start ))
  done
  wait "$lane_pid"
  for s in "${STAGES[@]}"; do
    [[ -f $LANE_DIR/$s.status ]] || continue
    echo "=== stage $s (ran in the lane beside the others)"
    cat "$LANE_DIR/$s.log"
    read -r rc secs <"$LANE_DIR/$s.status"
    record "$s" "$rc" "$secs"
  done
  for s in "${STAGES[@]}"; do  # claimed by a lane that ended before it (killed): a failure, never a blank
    [[ -n ${RESULT[$s]:-} ]] || record "$s" 1 0
  done
fi

echo
echo "| stage | result | seconds |"
echo "|---|---|---|"
npass=0
nfail=0
for s in "${STAGES[@]}"; do
  echo "| $s | ${RESULT[$s]} | ${SECONDS_TAKEN[$s]} |"
  case ${RESULT[$s]} in
    passed) npass=$((npass + 1)) ;;
    "not run"*) ;;
    *) nfail=$((nfail + 1)) ;;
  esac
done
echo
echo "stages: $npass passed, $nfail failed, $not_run not run"
exit $fail
