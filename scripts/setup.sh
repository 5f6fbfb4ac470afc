#!/usr/bin/env bash
# Set-up for the demo and the tests on a fresh Debian 12 or Debian 13 machine, as root. Idempotent and quick when
# already done: Debian packages from scripts/apt-packages.txt, and one virtual environment per supported
# ansible-core line under .venv/ansible-LINE.
#
#   ./scripts/setup.sh [LINE...]     (default: every line in CORES)
#
# Each line runs on a controller Python it supports (CORE_PYTHONS, ansible-core's own support matrix). Where it runs
# is chosen from the Pythons found, in this order, and printed:
#   1. this machine's python3 ($PYTHON);
#   2. a root file system of the other Debian release, with its Python (tests/rootfs: debootstrap, cached under
#      /var/cache/ocsp-stapling-rootfs/), and the line's stages with it (scripts/test.sh enters it), against that
#      release's own Apache and OpenSSL: on Debian 12, Debian 13 (trixie, Python 3.13) for 2.20, 2.21 and 2.22; on
#      Debian 13, Debian 12 (bookworm, Python 3.11) for 2.16, unless 3. finds a Python for it first;
#   3. another python3.X on this machine (/usr/bin, /usr/local/bin, pyenv) that the line supports (before the
#      Debian 12 root: a Python the machine has costs no root file system).
# A line no Python here supports is not set up (and said so): set-up never fails for it; scripts/test.sh reports
# its stages as not run. What was chosen is written to .venv/lines.txt (LINE WHERE PYTHON ANSIBLE-CORE), which
# scripts/test.sh reads. tests/unit/test_packaging.py checks that CORES, the stages, the README's support table and
# meta/runtime.yml's requires_ansible agree.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
say() { printf 'setup: %s\n' "$*"; }

# The supported ansible-core lines, oldest first. 2.16 is the floor (requires_ansible; Red Hat's AAP 2.5 ships it),
# 2.18 is what the partner certification checker runs besides 2.16 and 2.20, 2.19 carries the linters and the
# ecosystem tools (MAIN), 2.20-2.22 are the maintained lines. 2.17 is end-of-life and asked for by nobody: dropped.
CORES=(2.16 2.18 2.19 2.20 2.21 2.22)
MAIN=2.19
declare -A CORE_PYTHONS=(
  [2.16]="3.10 3.11 3.12" [2.18]="3.11 3.12 3.13" [2.19]="3.11 3.12 3.13"
  [2.20]="3.12 3.13 3.14" [2.21]="3.12 3.13 3.14" [2.22]="3.13 3.14 3.15"
)
# The root file systems set-up may use, in order of preference: (recipe, whether a Python of this machine comes first).
ROOTFS_RECIPES=(trixie bookworm)
declare -A ROOTFS_AFTER_OTHERS=([trixie]="" [bookworm]=1)

# Inside a root file system (scripts/setup.sh calls itself there): its Debian packages come with the recipe,
# every requested line runs on its python3, and the caller writes .venv/lines.txt.
INNER=${OCSP_SETUP_INNER:-}
# OCSP_SETUP_PLAN=1: only say where each line would run ("LINE WHERE", WHERE = host PYTHON | rootfs:RECIPE | none)
# and change nothing (no package, no venv, no root file system built).
PLAN=${OCSP_SETUP_PLAN:-}

WANT=("$@")
((${#WANT[@]})) || WANT=("${CORES[@]}")
for line in "${WANT[@]}"; do
  [[ -n ${CORE_PYTHONS[$line]:-} ]] || { echo "setup: unknown ansible-core line '$line' (one of: ${CORES[*]})" >&2; exit 2; }
done

# --- Debian packages -------------------------------------------------------------------------------------------
install_packages() {
  mapfile -t pkgs < <(grep -vE '^\s*(#|$)' scripts/apt-packages.txt)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    say "Debian packages present"
    return
  fi
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # A policy-rc.d that says 101 keeps package scripts from starting the machine's own apache2, ssh
  # or firewalld (which would firewall this machine); make a temporary one when there is none.
  local own_policy='' rc=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || rc=$?
  [[ -n $own_policy ]] && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || { echo "setup: apt-get install ${missing[*]} failed" >&2; exit 1; }
  # The tests run firewalld only inside network namespaces; never at this machine's next boot.
  if [[ " ${missing[*]} " == *" firewalld "* ]] && command -v systemctl >/dev/null; then
    systemctl disable firewalld >/dev/null 2>&1 || true
  fi
}
# The Debian package starts nothing here (policy-rc.d); the lab runs its own sandboxed Apache.
[[ -n $INNER || -n $PLAN ]] || install_packages
# The lab enables Debian's stock default-ssl site, which serves ssl-cert's snakeoil certificate. ssl-cert's
# postinst makes it, but an image built with the package already in place may lack it: make it as the package does.
if [[ -z $PLAN && ! -e /etc/ssl/certs/ssl-cert-snakeoil.pem ]] && command -v make-ssl-cert >/dev/null; then
  say "make-ssl-cert generate-default-snakeoil (the stock default-ssl site's certificate)"
  make-ssl-cert generate-default-snakeoil
fi

# --- which Python runs which line --------------------------------------------------------------------------------
pyver() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
# A Python that can make a venv with pip in it (Debian's python3 needs python3-venv for that).
venv_capable() { "$1" -c 'import venv, ensurepip' >/dev/null 2>&1; }
supports() { [[ " ${CORE_PYTHONS[$1]} " == *" $2 "* ]]; }

HOST_VER=$(pyver "$PYTHON") || { echo "setup: $PYTHON does not run" >&2; exit 1; }
[[ -n $PLAN ]] || venv_capable "$PYTHON" || { echo "setup: $PYTHON cannot make virtual environments (apt-get install python3-venv)" >&2; exit 1; }

# Other Pythons on this machine, newest first (pyenv's shims are skipped: they answer for versions not selected).
other_pythons() {
  local v cand
  for v in 3.15 3.14 3.13 3.12 3.11 3.10; do
    for cand in /usr/bin/python"$v" /usr/local/bin/python"$v" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v"; do
      if [[ -x $cand ]] && venv_capable "$cand"; then
        echo "$v $cand"
        break
      fi
    done
  done
}

# The roots worth entering: a Python of another version than this machine's (recipe -> "major.minor").
declare -A ROOTFS_PY ROOTFS_RELEASE
if [[ -z $INNER && ${OCSP_ROOTFS:-1} != 0 ]]; then
  for r in "${ROOTFS_RECIPES[@]}"; do
    v=$(PYTHONPATH=tests "$PYTHON" -m rootfs --recipe "$r" python)
    [[ $v == "$HOST_VER" ]] && continue
    ROOTFS_PY[$r]=$v
    ROOTFS_RELEASE[$r]=$(PYTHONPATH=tests "$PYTHON" -m rootfs --recipe "$r" release)
  done
fi
root_for() {  # line after-others -> the first recipe whose Python runs the line
  local r
  for r in "${ROOTFS_RECIPES[@]}"; do
    [[ -n ${ROOTFS_PY[$r]:-} && ${ROOTFS_AFTER_OTHERS[$r]} == "$2" ]] && supports "$1" "${ROOTFS_PY[$r]}" && {
      echo "$r"; return 0; }
  done
  return 1
}

declare -A WHERE PYBIN WHY
declare -A IN_ROOT  # recipe -> the lines set up inside it
for line in "${WANT[@]}"; do
  if [[ -n $INNER ]] || supports "$line" "$HOST_VER"; then
    WHERE[$line]=host PYBIN[$line]=$PYTHON
  elif r=$(root_for "$line" ""); then
    WHERE[$line]=rootfs:$r
  else
    while read -r v cand; do
      if supports "$line" "$v"; then WHERE[$line]=host PYBIN[$line]=$cand; break; fi
    done < <(other_pythons)
    if [[ -z ${WHERE[$line]:-} ]] && r=$(root_for "$line" 1); then
      WHERE[$line]=rootfs:$r
    fi
    if [[ -z ${WHERE[$line]:-} ]]; then
      WHERE[$line]=none
      found=$HOST_VER
      for r in "${!ROOTFS_PY[@]}"; do found+=" and ${ROOTFS_PY[$r]} in the ${ROOTFS_RELEASE[$r]} root file system"; done
      while read -r v _; do [[ " $found " == *" $v "* ]] || found+=", $v"; done < <(other_pythons)
      WHY[$line]="needs Python ${CORE_PYTHONS[$line]// /, }; found $found here"
    fi
  fi
  if [[ ${WHERE[$line]} == rootfs:* ]]; then
    r=${WHERE[$line]#rootfs:}
    IN_ROOT[$r]="${IN_ROOT[$r]:-}${IN_ROOT[$r]:+ }$line"
  fi
done

if [[ -n $PLAN ]]; then
  for line in "${WANT[@]}"; do
    case ${WHERE[$line]} in
      host) echo "$line host ${PYBIN[$line]}" ;;
      none) echo "$line none ${WHY[$line]}" ;;
      *) echo "$line ${WHERE[$line]}" ;;
    esac
  done
  exit 0
fi

# --- virtual environments ------------------------------------------------------------------------------------------
# The newest ansible-core of the line on the package index. pip takes a pre-release only when the line has no
# release yet (2.22 while only release candidates exist): then say so. Prints "VERSION" or "VERSION pre".
newest_core() {  # venv-python line
  local report v
  report=$("$1" -m pip install -q --dry-run --no-deps --ignore-installed --report - "ansible-core==$2.*" 2>/dev/null) \
    || return 1
  v=$("$1" -c 'import json, sys; print(json.load(sys.stdin)["install"][0]["metadata"]["version"])' <<<"$report") \
    || return 1
  if [[ $v =~ [a-z] ]]; then echo "$v pre"; else echo "$v"; fi
}

make_venv() {  # line python requirement-files...
  local line=$1 py=$2; shift 2
  local dir=$ROOT/.venv/ansible-$line
  local stamp
  stamp=$( { echo "ansible-core==$line.*"; "$py" -c 'import sys; print(sys.executable, sys.version)'; cat "$@"; } \
           | sha256sum | cut -c1-16)
  if [[ -x $dir/bin/python && -f $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]]; then
    say "venv ansible-$line up to date ($(cat "$dir/.core"), Python $("$dir/bin/python" -c 'import platform; print(platform.python_version())'))"
    return
  fi
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  local found version pre
  found=$(newest_core "$dir/bin/python" "$line") \
    || { echo "setup: no ansible-core $line.* on the package index for Python $(pyver "$py")" >&2; exit 1; }
  read -r version pre <<<"$found"
  say "venv ansible-$line: installing ansible-core $version${pre:+ (a pre-release: no $line release on the index yet)} on Python $(pyver "$py") and $(cat "$@" | grep -vcE '^\s*(#|$)') packages"
  local reqs=() f
  for f in "$@"; do reqs+=(-r "$f"); done
  local out rc=0
  out=$("$dir/bin/python" -m pip install -q "ansible-core==$version" "${reqs[@]}" 2>&1) || rc=$?
  grep -v "^WARNING: Location" <<<"$out" || true
  ((rc == 0)) || { echo "setup: pip install into venv ansible-$line failed (exit $rc)" >&2; exit 1; }
  "$dir/bin/python" -c "import ansible, pytest, cryptography, OpenSSL" \
    || { echo "setup: venv ansible-$line is incomplete" >&2; exit 1; }
  echo "$version${pre:+ (pre-release)}" > "$dir/.core"
  echo "$stamp" > "$dir/.stamp"
}

# ansible-test downloads get-pip-<version>.py from a host this network cannot reach, after looking in
# ~/.ansible/test/cache/get_pip_<version>.py. Our stand-in installs pip from the package index this machine
# reaches (see scripts/offline/get_pip.py).
offline_get_pip() {  # line
  local pipver
  pipver=$("$ROOT/.venv/ansible-$1/bin/python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
  mkdir -p "$HOME/.ansible/test/cache"
  install -m 0644 scripts/offline/get_pip.py "$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
}

# ansible-test pins some sanity requirements to an archive on github.com (2.22.0rc1: dill, "until dill is released
# with Python 3.15 support"), which this network cannot reach: the venv's copy of that requirement file names the
# package instead, resolved on the package index like the others (dill 0.4.1 supports the Pythons tested here).
offline_sanity_requirements() {  # line
  "$ROOT/.venv/ansible-$1/bin/python" - "$1" <<'PY'
import glob, os, re, sys
import ansible_test
for path in glob.glob(os.path.join(os.path.dirname(ansible_test.__file__), "_data", "requirements", "*.txt")):
    with open(path) as f:
        text = f.read()
    new = re.sub(r"^([A-Za-z0-9_.-]+) @ https?://\S+.*$", r"\1  # ocsp.stapling setup: was a URL this network cannot reach",
                 text, flags=re.M)
    if new != text:
        with open(path, "w") as f:
            f.write(new)
        names = re.findall(r"^([A-Za-z0-9_.-]+) @ https?://", text, re.M)
        print("setup: ansible-test %s: %s named %s by a URL; now from the package index" % (
            sys.argv[1], os.path.basename(path), ", ".join(names)))
PY
}

for line in "${WANT[@]}"; do
  [[ ${WHERE[$line]} == host ]] || continue
  reqs=(tests/requirements.txt)
  [[ $line == "$MAIN" ]] && reqs+=(tests/requirements-lint.txt)
  make_venv "$line" "${PYBIN[$line]}" "${reqs[@]}"
  offline_get_pip "$line"
  offline_sanity_requirements "$line"
done

[[ -n $INNER ]] && exit 0

# Lines whose Python is a root file system's: the same set-up, run inside it (built first when not cached).
for r in "${ROOTFS_RECIPES[@]}"; do
  [[ -n ${IN_ROOT[$r]:-} ]] || continue
  read -ra in_root <<<"${IN_ROOT[$r]}"
  say "ansible-core ${in_root[*]} need Python ${ROOTFS_PY[$r]}: setting them up in the ${ROOTFS_RELEASE[$r]} root file system"
  if ! PYTHONPATH=tests "$PYTHON" -m rootfs --recipe "$r" run --bind "$ROOT" -- \
      env OCSP_SETUP_INNER=1 ./scripts/setup.sh "${in_root[@]}"; then
    echo "setup: setting up ansible-core ${in_root[*]} in the ${ROOTFS_RELEASE[$r]} root failed" >&2
    exit 1
  fi
done

# --- what was chosen ---------------------------------------------------------------------------------------------
lines_file=$ROOT/.venv/lines.txt
tmp=$lines_file.tmp
mkdir -p "$ROOT/.venv"
{
  echo "# line where python ansible-core (written by scripts/setup.sh; scripts/test.sh reads it)"
  # Lines set up earlier and not asked for this time keep their entry.
  if [[ -f $lines_file ]]; then
    while read -r l rest; do
      [[ $l == \#* || -z $l ]] && continue
      [[ " ${WANT[*]} " == *" $l "* ]] || echo "$l $rest"
    done < "$lines_file"
  fi
  for line in "${WANT[@]}"; do
    if [[ ${WHERE[$line]} == none ]]; then
      echo "$line none - - ${WHY[$line]}"
    else
      d=$ROOT/.venv/ansible-$line
      pyv=$(sed -n 's/^version = //p' "$d/pyvenv.cfg" 2>/dev/null || true)
      [[ -n $pyv ]] || pyv=$(sed -n 's/^version_info = //p' "$d/pyvenv.cfg")
      echo "$line ${WHERE[$line]} $pyv $(head -1 "$d/.core" | cut -d' ' -f1)"
    fi
  done
} > "$tmp"
mv "$tmp" "$lines_file"

say "ansible-core lines:"
for line in "${WANT[@]}"; do
  read -r _ where pyv _ <<<"$(grep "^$line " "$lines_file")"
  case $where in
    host) say "  $line: ansible-core $(cat "$ROOT/.venv/ansible-$line/.core") on Python $pyv (this machine)" ;;
    rootfs:*) say "  $line: ansible-core $(cat "$ROOT/.venv/ansible-$line/.core") on Python $pyv (${ROOTFS_RELEASE[${where#rootfs:}]} root file system; its stages run there)" ;;
    none) say "  $line: not set up: ${WHY[$line]}; its stages are reported as not run" ;;
  esac
done
say "ready"
