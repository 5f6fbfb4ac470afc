#!/usr/bin/env bash
# The docs site: HTML of every module, filter, the role (from meta/argument_specs.yml) and the playbooks
# (docs/docsite/rst/playbooks.rst), rendered by antsibull-docs (sphinx-init + Sphinx), offline, warnings as errors.
#   ./scripts/docs.sh [COLLECTIONS_PATH [DEST]]
# COLLECTIONS_PATH holds ansible_collections/ocsp/stapling (the build stage passes the installed tarball, so the
# site documents what ships; default: this checkout through .cache/collections). DEST defaults to build/docs;
# the site is DEST/build/html/index.html. Needs the tools venv (.venv/ansible-2.19, scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${OCSP_TOOLS_VENV:-$ROOT/.venv/ansible-2.19}
COLLECTIONS=${1:-}
DEST=${2:-$ROOT/build/docs}
if [[ -z $COLLECTIONS ]]; then
  COLLECTIONS=$("$VENV/bin/python" -c 'import sys; sys.path.insert(0, "tests"); import collection_path; print(collection_path.ensure())')
fi
COLLECTIONS=$(cd "$COLLECTIONS" && pwd)
export ANSIBLE_COLLECTIONS_PATH=$COLLECTIONS PATH=$VENV/bin:$PATH
SRC=$COLLECTIONS/ansible_collections/ocsp/stapling
[[ -f $SRC/galaxy.yml || -f $SRC/MANIFEST.json ]] || { echo "docs.sh: no ocsp.stapling under $COLLECTIONS" >&2; exit 2; }

rm -rf "$DEST"
mkdir -p "$DEST"
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir "$DEST" \
  --project ocsp.stapling --title "ocsp.stapling collection" --html-short-title ocsp.stapling ocsp.stapling >/dev/null

# Offline: Sphinx must fetch no intersphinx inventory. The generated pages link to a few labels of the Ansible
# documentation (common return values, configuration settings, action plugins, the ansible.builtin modules our docs
# name with M());
# a small local inventory resolves them to their pages on docs.ansible.com, so the links stay right and nothing is
# downloaded. A new M(ansible.builtin.X) in our docs needs its line here (the build fails on the undefined label).
"$VENV/bin/python" - "$DEST/ansible_devel.inv" <<'PY'
import sys, zlib
entries = [
    ("common_return_values", "reference_appendices/common_return_values.html#common-return-values", "Return Values"),
    ("ansible_configuration_settings", "reference_appendices/config.html#ansible-configuration-settings",
     "Ansible Configuration Settings"),
    # the note on a module that is an action plugin (ocsp_staple_metrics)
    ("action_plugins", "plugins/action.html#action-plugins", "Action plugins"),
] + [
    ("ansible_collections.ansible.builtin.{0}_module".format(m),
     "collections/ansible/builtin/{0}_module.html#ansible-collections-ansible-builtin-{0}-module".format(m),
     "ansible.builtin.{0} module".format(m))
    for m in ("copy", "template", "package")
]
body = "".join("{0} std:label -1 {1} {2}\n".format(*e) for e in entries).encode()
with open(sys.argv[1], "wb") as f:
    f.write(b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
            b"# The remainder of this file is compressed using zlib.\n" + zlib.compress(body))
PY
cat >> "$DEST/conf.py" <<EOF

# Added by scripts/docs.sh: offline, one local inventory instead of downloading any.
intersphinx_mapping = {
    'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', '$DEST/ansible_devel.inv'),
}
EOF

# build.sh (generated): antsibull-docs collection --fail-on-error, then sphinx-build -W --keep-going.
(cd "$DEST" && ./build.sh) >"$DEST/build.log" 2>&1 || { cat "$DEST/build.log"; echo "docs.sh: the docs site failed to build"; exit 1; }
grep -E "^build succeeded|WARNING|ERROR" "$DEST/build.log" || true

# Every plugin, the role and the playbooks have their page; the role page names every argument_specs option.
HTML=$DEST/build/html
rc=0
need() { [[ -s $HTML/$1 ]] || { echo "docs.sh: missing page $1"; rc=1; }; }
for f in "$SRC"/plugins/modules/*.py; do need "$(basename "$f" .py)_module.html"; done
for f in "$SRC"/plugins/filter/*.py; do need "$(basename "$f" .py)_filter.html"; done
for d in "$SRC"/roles/*/; do need "$(basename "$d")_role.html"; done
need docsite/playbooks.html
for opt in $("$VENV/bin/python" -c '
import sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))["argument_specs"]["main"]["options"]
print("\n".join(spec))' "$SRC/roles/apache_stapling/meta/argument_specs.yml"); do
  grep -q "$opt" "$HTML/apache_stapling_role.html" || { echo "docs.sh: the role page lacks $opt"; rc=1; }
done
for p in "$SRC"/playbooks/*.yml; do
  grep -q "ocsp.stapling.$(basename "$p" .yml)" "$HTML/docsite/playbooks.html" \
    || { echo "docs.sh: the playbooks page lacks $(basename "$p" .yml)"; rc=1; }
done
((rc == 0)) && echo "docs site: $HTML/index.html ($(find "$HTML" -name '*.html' | wc -l) pages)"
exit $rc
