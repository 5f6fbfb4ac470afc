#!/usr/bin/env bash
# The demo on the built-in lab: the real rollout. Set-up, then a sandboxed Apache (Debian's apache2, loopback only,
# its own APACHE_CONFDIR) serving TLS vhosts with NO stapling configured; `ansible-playbook ocsp.stapling.rollout`
# plans, configures, reloads and verifies it; curl --cert-status checks the result independently; a second run shows
# a converged host (changed=0, no reload). Everything the demo starts, it stops on exit.
# The machine's own firewall is never touched: the demo runs with apache_stapling_egress=false (egress is tested for
# real in network namespaces by ./scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
./scripts/setup.sh 2.19  # the demo runs on the main line (scripts/setup.sh: MAIN)
PY=$ROOT/.venv/ansible-2.19/bin/python
export PYTHONPATH=$ROOT/tests
STATE=$(mktemp -d /tmp/ocsp-demo.XXXXXX)
trap '"$PY" -m lab down --state-dir "$STATE/lab" >/dev/null; rm -rf "$STATE"' EXIT

echo "### The lab: Apache with TLS vhosts and no stapling configured"
"$PY" -m lab up --no-stapling --state-dir "$STATE/lab"
LABSTATE=$STATE/lab/state.json
ROOTCA=$STATE/lab/pki/root.crt
CONFDIR=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["apache"]["confdir"])' "$LABSTATE")

curl_status() {  # name -> one line: what curl --cert-status says of that vhost's staple
  local port sni out
  read -r port sni < <("$PY" -c 'import json,sys; v=json.load(open(sys.argv[1]))["apache"]["vhosts"][sys.argv[2]]; print(v["port"], v["sni"])' \
    "$LABSTATE" "$1")
  if out=$(curl -sS -o /dev/null --max-time 10 --cert-status --cacert "$ROOTCA" \
             --resolve "$sni:$port:127.0.0.1" "https://$sni:$port/" 2>&1); then
    printf '  %-26s curl --cert-status: valid staple (signature, certificate, status good)\n' "$sni"
  else
    out=${out%%$'\n'*}
    printf '  %-26s curl --cert-status: %s\n' "$sni" "${out#curl: }"
  fi
}
names=(good must_staple second_issuer revoked no_uri missing_chain)

echo
echo "### Before: curl --cert-status on every vhost"
for n in "${names[@]}"; do curl_status "$n"; done

INV=$STATE/inventory.ini
echo "localhost ansible_connection=local ansible_python_interpreter=$PY" > "$INV"
mkdir -p "$STATE/collections/ansible_collections/ocsp"
ln -s "$ROOT" "$STATE/collections/ansible_collections/ocsp/stapling"
# The reports outlive the demo (the lab and its state do not): where the playbooks put them by default.
REPORTS=${OCSP_STAPLING_REPORT_DIR:-$ROOT/ocsp-stapling-reports}
rollout() {
  ANSIBLE_COLLECTIONS_PATH=$STATE/collections ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=False \
  ANSIBLE_DISPLAY_SKIPPED_HOSTS=False ANSIBLE_DISPLAY_OK_HOSTS=true \
    "$ROOT/.venv/ansible-2.19/bin/ansible-playbook" -i "$INV" ocsp.stapling.rollout \
      -e apache_stapling_server_root="$CONFDIR" -e apache_stapling_egress=false \
      -e apache_stapling_ca_file="$STATE/lab/pki/ca-bundle.pem" \
      -e apache_stapling_journal_dir="$STATE/journal" -e apache_stapling_report_dir="$REPORTS"
}
summary() {  # the per-vhost lines of the JSON summary the playbook wrote on the controller
  "$PY" - "$REPORTS/latest.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for name, host in sorted(doc["hosts"].items()):
    print("  host {0}: {1}, transaction {2}, reload {3}, rolled back: {4}".format(
        name, host["status"], host.get("transaction"), host.get("reload"), host.get("rolled_back")))
    for v in host["vhosts"]:
        s = v.get("staple") or {}
        verdict = ("staple valid, {0}, age {1}s".format(s.get("cert_status"), s.get("age")) if s.get("valid")
                   else "no staple checked" if not s.get("checked") else "staple NOT valid")
        # A vhost without ServerName (Debian's stock default-ssl) is named by its file.
        label = v["server_name"] or "({0})".format(v["file"].rsplit("/", 1)[-1])
        print("    {0:26} {1:12} {2}  [{3}]".format(label, v["decision"], verdict, v.get("reason") or ""))
PY
}

echo
echo "### ansible-playbook ocsp.stapling.rollout (first run: plan, configure, configtest, reload, verify)"
rollout | grep -E '^(TASK|PLAY RECAP)|"msg": "|localhost +:|changed:|fatal:' | grep -vE '^TASK .*(Show warnings|Remember|Record)' || true
echo
echo "### What the rollout did, per vhost (from $REPORTS/latest.json)"
summary

echo
echo "### After: curl --cert-status on every vhost (an independent verifier)"
for n in "${names[@]}"; do curl_status "$n"; done

echo
echo "### Second run: a converged host changes nothing and does not reload"
rollout | grep -E '^PLAY RECAP|localhost +:'
summary | head -1
echo
echo "good, must_staple and second_issuer now staple valid responses (verified by ocsp_staple_info and by curl);"
echo "no_uri has no OCSP URI (normal since 2025 for Let's Encrypt: reported, not stapled); missing_chain lacks its"
echo "issuer (a per-vhost error naming the fix); revoked is refused before any change (its responder says revoked)."
echo
echo "### The fleet report of this rollout (open it in a browser; the Markdown pastes into a ticket)"
for f in "$REPORTS/latest.html" "$REPORTS/latest.md"; do
  [[ -s $f ]] || { echo "demo: the rollout wrote no $f" >&2; exit 1; }
  echo "  $f"
done
