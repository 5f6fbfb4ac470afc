"""The README's managed-node table says what the fleet runs: every platform the role's metadata names has a row, and a
row says "tested on the real distribution" only for a Debian suite the fleet has an image of, "layout tested on
Debian's Apache" only for a layout the fleet makes on Debian's binary (tests/fleet/fleet.py KINDS), each named as the
fleet's kind of host."""

import os
import re

import yaml

from fleet import image
from fleet.fleet import KINDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# How the metadata's platforms read in the table (Galaxy's names and versions -> the row's first column).
ROW_NAMES = {("Debian", "bookworm"): "Debian 12 (bookworm)", ("Debian", "trixie"): "Debian 13 (trixie)",
             ("Debian", "bullseye"): "Debian 11 (bullseye)", ("EL", "9"): "Red Hat Enterprise Linux 9 (EL)",
             ("SLES", "15"): "SUSE Linux Enterprise 15"}


def table():
    """{platform: how it is tested} from the README's managed-node table (under "Supported versions")."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    m = re.search(r"^Managed nodes:\n\n(.*?)\n\n", readme, re.M | re.S)
    assert m, "README.md has no 'Managed nodes:' table"
    rows = re.findall(r"^\| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|$", m.group(1), re.M)
    return dict((name, tested) for name, _versions, tested in rows if name != "platform")


def test_every_platform_of_the_metadata_has_a_row():
    with open(os.path.join(ROOT, "roles/apache_stapling/meta/main.yml")) as f:
        platforms = yaml.safe_load(f)["galaxy_info"]["platforms"]
    named = [ROW_NAMES[(p["name"], str(v))] for p in platforms for v in p["versions"]]
    assert sorted(named) == sorted(table())


def test_what_a_row_claims_is_what_the_fleet_runs():
    rows = table()
    real = [name for name, tested in rows.items() if tested.startswith("**tested on the real distribution**")]
    layout = [name for name, tested in rows.items() if tested.startswith("**layout tested on Debian's Apache**")]
    assert real and layout, rows
    for name in real:
        suite = re.search(r"\((\w+)\)$", name).group(1)
        assert suite in image.SUITES and "`{0}` hosts".format(suite) in rows[name], (name, rows[name])
        assert KINDS[suite]["image"] == suite and KINDS[suite]["family"] == "debian"
    for name in layout:
        kind = re.search(r"the fleet's `(\w+)` hosts", rows[name]).group(1)
        assert KINDS[kind]["family"] in ("redhat", "suse") and KINDS[kind]["image"] in image.SUITES, (name, kind)
    # The fleet has no kind the table leaves out.
    claimed = set(re.findall(r"the fleet's `(\w+)` hosts", " ".join(rows.values())))
    assert claimed == set(KINDS), (claimed, sorted(KINDS))
