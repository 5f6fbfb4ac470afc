#!/usr/bin/env bash
# Set-up for the demo and the tests on a fresh Debian 12 machine, as root. Idempotent and
# quick when already done: Debian packages from scripts/apt-packages.txt, and one virtual
# environment per supported ansible-core line under .venv/ (2.16 = oldest we support, 2.17,
# 2.18, 2.19 = newest on Python 3.11; meta/runtime.yml and the README's support table name the
# same lines, tests/unit/test_support_matrix.py checks it). Only 2.19 carries the linters and the
# ecosystem tools (docs site, ansible-builder, ansible-navigator, ansible-runner).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
say() { printf 'setup: %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
mapfile -t pkgs < <(grep -vE '^\s*(#|$)' scripts/apt-packages.txt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # A policy-rc.d that says 101 keeps package scripts from starting the machine's own apache2, ssh
  # or firewalld (which would firewall this machine); make a temporary one when there is none.
  own_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || rc=$?
  [[ -n $own_policy ]] && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || { echo "setup: apt-get install ${missing[*]} failed" >&2; exit 1; }
  # The tests run firewalld only inside network namespaces; never at this machine's next boot.
  if [[ " ${missing[*]} " == *" firewalld "* ]] && command -v systemctl >/dev/null; then
    systemctl disable firewalld >/dev/null 2>&1 || true
  fi
else
  say "Debian packages present"
fi
# The Debian package starts nothing here (policy-rc.d); the lab runs its own sandboxed Apache.
# The lab enables Debian's stock default-ssl site, which serves ssl-cert's snakeoil certificate. ssl-cert's
# postinst makes it, but an image built with the package already in place may lack it: make it as the package does.
if [[ ! -e /etc/ssl/certs/ssl-cert-snakeoil.pem ]]; then
  say "make-ssl-cert generate-default-snakeoil (the stock default-ssl site's certificate)"
  make-ssl-cert generate-default-snakeoil
fi

# --- virtual environments ----------------------------------------------------------------
make_venv() {  # name core-spec requirement-files...
  local name=$1 core=$2; shift 2
  local dir=$ROOT/.venv/$name
  local stamp
  stamp=$( { echo "$core"; "$PYTHON" -c 'import sys; print(sys.version)'; cat "$@"; } | sha256sum | cut -c1-16)
  if [[ -x $dir/bin/python && -f $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]]; then
    say "venv $name up to date"
    return
  fi
  say "venv $name: installing $core and $(cat "$@" | grep -vcE '^\s*(#|$)') packages"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  local reqs=()
  for f in "$@"; do reqs+=(-r "$f"); done
  local out rc=0
  out=$("$dir/bin/python" -m pip install -q "$core" "${reqs[@]}" 2>&1) || rc=$?
  grep -v "^WARNING: Location" <<<"$out" || true
  ((rc == 0)) || { echo "setup: pip install into venv $name failed (exit $rc)" >&2; exit 1; }
  "$dir/bin/python" -c "import ansible, pytest, cryptography, OpenSSL" \
    || { echo "setup: venv $name is incomplete" >&2; exit 1; }
  echo "$stamp" > "$dir/.stamp"
}
# The supported ansible-core lines, oldest first (one venv each).
CORES=(2.16 2.17 2.18 2.19)
for core in "${CORES[@]}"; do
  reqs=(tests/requirements.txt)
  [[ $core == "${CORES[-1]}" ]] && reqs+=(tests/requirements-lint.txt)
  make_venv "ansible-$core" "ansible-core==$core.*" "${reqs[@]}"
done

# --- ansible-test's pip bootstrap, offline --------------------------------------------------
# ansible-test downloads get-pip-<version>.py from a host this network cannot reach, after
# looking in ~/.ansible/test/cache/get_pip_<version>.py. Our stand-in installs pip from the
# package index this machine reaches (see scripts/offline/get_pip.py).
for core in "${CORES[@]}"; do
  pipver=$("$ROOT/.venv/ansible-$core/bin/python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
  mkdir -p "$HOME/.ansible/test/cache"
  install -m 0644 scripts/offline/get_pip.py "$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
done
say "ready"
