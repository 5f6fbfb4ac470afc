#!/usr/bin/env bash
# The demo on the built-in lab: set-up, then a real Apache (sandboxed, loopback only) with a
# stapling config serves TLS vhosts; we show the stapled OCSP response and have curl verify it.
# Everything the demo starts, it stops on exit.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
./scripts/setup.sh
PY=$ROOT/.venv/ansible-2.19/bin/python
export PYTHONPATH=$ROOT/tests
STATE=$(mktemp -d /tmp/ocsp-demo.XXXXXX)
trap '"$PY" -m lab down --state-dir "$STATE/lab" >/dev/null; rm -rf "$STATE"' EXIT

"$PY" -m lab up --state-dir "$STATE/lab"
vhost() {  # name -> "port sni"
  "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1]))["apache"]["vhosts"][sys.argv[2]]; print(v["port"], v["sni"])' \
    "$STATE/lab/state.json" "$1"
}
ROOTCA=$STATE/lab/pki/root.crt

for name in good no_uri; do
  read -r port sni < <(vhost "$name")
  echo
  echo "### vhost $name ($sni on 127.0.0.1:$port): what it staples"
  openssl s_client -connect "127.0.0.1:$port" -servername "$sni" -status </dev/null 2>/dev/null \
    | awk '/no response sent/ {print; exit} /OCSP Response Data:/ {on=1} on && (/^=+$/ || /^ *Certificate:$/) {exit} on {print}'
  if out=$(curl -sS -o /dev/null --max-time 10 --cert-status --cacert "$ROOTCA" \
             --resolve "$sni:$port:127.0.0.1" "https://$sni:$port/" 2>&1); then
    echo "curl --cert-status: the stapled response is valid (signature, certificate, status good)"
  else
    echo "curl --cert-status: REJECTED: $out"
  fi
done

echo
echo "### The collection's own verdict: ansible-playbook ocsp.stapling.verify on every lab vhost"
INV=$STATE/inventory.ini
echo "localhost ansible_connection=local ansible_python_interpreter=$PY" > "$INV"
TARGETS=$("$PY" -c 'import json,sys; print(json.dumps({"ocsp_stapling_verify_targets": sorted(json.load(open(sys.argv[1]))["apache"]["vhosts"].values(), key=lambda t: t["sni"]), "ocsp_stapling_verify_require": False}))' "$STATE/lab/state.json")
mkdir -p "$STATE/collections/ansible_collections/ocsp"
ln -s "$ROOT" "$STATE/collections/ansible_collections/ocsp/stapling"
ANSIBLE_COLLECTIONS_PATH=$STATE/collections ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=False \
  "$ROOT/.venv/ansible-2.19/bin/ansible-playbook" -i "$INV" ocsp.stapling.verify -e "$TARGETS" \
  | grep -E '"msg"|^PLAY RECAP|localhost +:'
echo
echo "good, must_staple and second_issuer staple valid responses; revoked staples a genuine 'revoked'; no_uri gets no"
echo "staple (a normal, reported state for a certificate without an OCSP URI)."
