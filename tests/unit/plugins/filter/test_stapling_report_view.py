"""The fleet report's filters on summaries recorded from the lab (tests/unit/fixtures/report/, made by record.py there):
stapling_report_view (states, words, totals, freshness and the danger zone, must-staple, hosts that failed, were rolled
back or never reported, an empty fleet), md_escape, and stapling_report_render with the role's templates (escaping
of everything from a host, no external reference, Markdown tables that hold)."""

import copy
import datetime
import json
import os
import re
from html.parser import HTMLParser

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ocsp.stapling.plugins.filter.md_escape import md_escape
from ansible_collections.ocsp.stapling.plugins.filter.stapling_fleet_report import stapling_fleet_report
from ansible_collections.ocsp.stapling.plugins.filter.stapling_report_render import stapling_report_render
from ansible_collections.ocsp.stapling.plugins.filter.stapling_report_view import stapling_report_view
from ansible_collections.ocsp.stapling.plugins.plugin_utils._report_view import duration, freshness


def gfm(markdown):
    """HTML of GitHub-flavoured Markdown as GitHub renders it (cmark-gfm with its extensions: tables, autolinks,
    strikethrough), raw HTML passed through."""
    import cmarkgfm
    from cmarkgfm.cmark import Options
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(UNIT, "fixtures", "report")
ROOT = os.path.dirname(os.path.dirname(UNIT))
HTML = os.path.join(ROOT, "roles", "stapling_report", "templates", "report.html.j2")
MD = os.path.join(ROOT, "roles", "stapling_report", "templates", "report.md.j2")


def recorded(name):
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        return json.load(f)


def rows_by_name(view, host):
    return dict((r["vhost"], r) for h in view["hosts"] if h["name"] == host for r in h["rows"])


def host_view(view, name):
    return [h for h in view["hosts"] if h["name"] == name][0]


def tile(view, key):
    return [t for t in view["tiles"] if t["key"] == key][0]


# --- the view on recorded summaries ---------------------------------------------------------------------------------

def test_rollout_on_the_lab():
    view = stapling_report_view(recorded("rollout_lab"))
    t = view["totals"]
    assert (t["hosts"], t["vhosts"], t["verified"], t["failing"], t["not_stapleable"], t["changed"],
            t["rolled_back"]) == (1, 6, 3, 2, 1, 1, 0)
    assert [x["label"] for x in view["tiles"]] == ["hosts", "vhosts", "verified", "failing", "not stapleable",
                                                   "changed", "rolled back", "hosts failed"]
    rows = rows_by_name(view, "localhost")
    assert {n: r["state"] for n, r in rows.items()} == {
        "good.lab.test": "verified", "must-staple.lab.test": "verified", "second-issuer.lab.test": "verified",
        "no-uri.lab.test": "not_stapleable", "missing-chain.lab.test": "failing", "revoked.lab.test": "failing"}
    assert "SSLCertificateChainFile" in rows["missing-chain.lab.test"]["reason"]  # the fix, in words
    assert "revoked" in rows["revoked.lab.test"]["reason"]
    assert rows["no-uri.lab.test"]["reason"].startswith("the certificate has no OCSP URI")
    assert rows["good.lab.test"]["reason"].startswith("valid staple (good), signed by the issuer; ")
    assert rows["good.lab.test"]["tone"] == "ok" and rows["missing-chain.lab.test"]["tone"] == "bad"
    assert rows["must-staple.lab.test"]["must_staple"] and not rows["must-staple.lab.test"]["at_risk"]
    assert [r["vhost"] for r in view["must_staple"]] == ["must-staple.lab.test"]
    assert view["must_staple_at_risk"] == 0
    h = host_view(view, "localhost")
    assert h["status_words"] == "changed" and h["tone"] == "warn"  # changed, but two vhosts need attention
    assert dict(h["facts"])["Apache"].startswith("2.4.71") and dict(h["facts"])["reload"] == "graceful"
    assert sorted(r["vhost"] for r in view["attention"]) == ["missing-chain.lab.test", "revoked.lab.test"]
    # Charted: the three verified staples, not the vhosts without one.
    charted = sorted(r["vhost"] for r in view["chart"]["rows"])
    assert charted == ["good.lab.test", "must-staple.lab.test", "second-issuer.lab.test"]
    assert view["rows"][0]["state"] == "failing" and view["rows"][-1]["state"] == "not_stapleable"


def test_freshness_is_measured_when_the_staple_was_verified():
    doc = recorded("rollout_lab")
    good = [v for v in doc["hosts"]["localhost"]["vhosts"] if v["server_name"] == "good.lab.test"][0]["staple"]
    f = freshness(good, "2099-01-01T00:00:00Z", 0.33)  # the run's start does not matter when age is known
    assert f["lifetime"] == 3600 and f["age"] == good["age"] and f["left"] == 3600 - good["age"]
    assert not f["danger"] and not f["expired"]
    no_age = dict(good, age=None)
    start = datetime.datetime.strptime(good["this_update"], "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(seconds=2400)
    f = freshness(no_age, start.strftime("%Y-%m-%dT%H:%M:%SZ"), 0.33)  # else from the run's start, 40 min after
    assert (f["age"], f["left"]) == (2400, 1200)


@pytest.mark.parametrize("age,danger,expired", [
    (2400, False, False),  # 1200 s of 3600 left: more than 33 %
    (2413, True, False),   # 1187 s left: less than 0.33 * 3600 = 1188
    (3599, True, False),
    (3600, True, True),    # nextUpdate reached
    (3700, True, True),
])
def test_danger_zone_boundaries(age, danger, expired):
    staple = {"this_update": "2026-12-03T08:00:00Z", "next_update": "2026-12-03T09:00:00Z", "age": age}
    f = freshness(staple, None, 0.33)
    assert (f["danger"], f["expired"]) == (danger, expired)


def test_a_staple_in_the_danger_zone_is_verified_but_expiring_and_charted_first():
    doc = recorded("rollout_lab")
    for v in doc["hosts"]["localhost"]["vhosts"]:
        if v["server_name"] == "second-issuer.lab.test":
            v["staple"]["age"] = 3000  # 10 min of 60 left
            v["staple"]["expiring"] = True  # as the summary decides it (min_validity: one third by default)
    view = stapling_report_view(doc)
    row = rows_by_name(view, "localhost")["second-issuer.lab.test"]
    assert row["state"] == "expiring" and row["tone"] == "warn" and row["danger"]
    assert re.search(r"50 min old, 1[01] min to nextUpdate \(in the danger zone", row["reason"]), row["reason"]
    assert view["totals"]["verified"] == 3 and view["totals"]["expiring"] == 1
    chart = view["chart"]
    first = chart["rows"][0]
    assert first["vhost"] == "second-issuer.lab.test" and first["danger"]
    assert first["now_x"] > chart["danger_x"]  # the marker is inside the marked zone
    assert chart["rows"][1]["now_x"] < chart["danger_x"]
    assert "second-issuer.lab.test" in [r["vhost"] for r in view["attention"]]


def test_audit_before_the_rollout_is_drift():
    view = stapling_report_view(recorded("audit_lab"))
    assert view["audit"] is True and tile(view, "changed")["label"] == "would change"
    rows = rows_by_name(view, "localhost")
    assert rows["good.lab.test"]["state"] == "drift"
    assert rows["good.lab.test"]["reason"].startswith("a rollout would staple it; now: no staple")
    assert rows["must-staple.lab.test"]["at_risk"] is True  # must-staple served with no staple today
    assert view["totals"]["verified"] == 0 and view["totals"]["changed"] == 1
    assert host_view(view, "localhost")["status_words"] == "would change"
    assert host_view(view, "localhost")["outcome"] == "drift"
    # Drift needs attention (the CI gate fails on it): the host's own row, with the fix, comes first.
    first = view["attention"][0]
    assert first["host_only"] and first["state"] == "drift" and "a rollout would change" in first["reason"]
    assert first["fix"].startswith("run ocsp.stapling.rollout")


def test_verify_playbook_summary():
    view = stapling_report_view(recorded("verify_lab"))
    assert view["totals"]["verified"] == 3 and view["totals"]["failing"] == 0
    assert view["attention"] == [] and view["host_problems"] == []
    assert host_view(view, "localhost")["tone"] == "ok"


def test_fleet_with_a_rolled_back_and_an_unreported_host():
    view = stapling_report_view(recorded("rollout_fleet"))
    assert [h["name"] for h in view["hosts"]] == ["web2", "web3", "web1"]  # what needs attention first
    statuses = [(s["status"], s["count"]) for s in view["host_statuses"]]
    assert statuses == [("rolled_back", 1), ("unreachable", 1), ("converged", 1)]
    assert tile(view, "rolled_back")["value"] == 1 and tile(view, "rolled_back")["tone"] == "bad"
    web2 = rows_by_name(view, "web2")
    assert web2["second-issuer.lab.test"]["state"] == "failing"
    assert web2["second-issuer.lab.test"]["reason"].startswith("no staple: Apache sent no OCSP response")
    assert "no OCSP response stapled after 2 handshake(s)" in web2["second-issuer.lab.test"]["reason"]
    # Verified before the rollback, not stapled any more: neither verified nor charted.
    assert web2["good.lab.test"]["state"] == "rolled_back"
    assert web2["must-staple.lab.test"]["at_risk"] is True
    assert all(r["host"] != "web2" for r in view["chart"]["rows"])
    h2 = host_view(view, "web2")
    assert h2["tone"] == "bad" and h2["problem"] == (
        "verification after the change failed, 1 target(s) without a valid staple: second-issuer.lab.test "
        "(no_staple); the previous configuration was restored")
    assert h2["cause"]["fix"].startswith("make the responder reachable from the web server")
    assert any("(task: Handshake with every planned vhost" in p for p in h2["problems"])
    # The reload shown is the rollback's full restart, with its downtime; the files were put back.
    facts = h2["facts"]
    assert ("reload (change)", "graceful") in facts
    assert [f for f in facts if f[0] == "reload (rollback)" and f[1].startswith("restart, ")
            and f[1].endswith(" s without service")]
    assert [f for f in facts if f[0] == "config"] and all(
        f[1].endswith("(restored by the rollback)") for f in facts if f[0] == "config")
    web3 = host_view(view, "web3")
    assert web3["rows"] == [] and web3["status_words"] == "unreachable"
    assert [(p["host"], p["status_words"]) for p in view["host_problems"]] == [
        ("web2", "rolled back"), ("web3", "unreachable")]
    assert view["host_problems"][1]["reason"].startswith("Ansible could not reach the host: ")
    assert [(a["host"], a["state"]) for a in view["attention"][:2]] == [("web2", "rolled_back"),
                                                                        ("web3", "unreachable")]  # hosts first
    # What needs attention, by cause: counts of vhosts and hosts, worst and most frequent first, with an example.
    assert [(c["cause"], c["vhosts"], c["hosts"]) for c in view["causes"]] == [
        ("certificate_revoked", 2, 2), ("missing_issuer", 2, 2), ("no_staple", 1, 1), ("outcome_rolled_back", 0, 1),
        ("outcome_unreachable", 0, 1), ("rolled_back", 1, 1)]
    assert view["causes"][2]["example"]["vhost"] == "second-issuer.lab.test"
    assert view["causes"][1]["words"] == "issuer certificate not where mod_ssl looks (serve the chain)"
    assert view["totals"]["verified"] == 3  # web1's only
    assert [h["open"] for h in view["hosts"]] == [True, True, True]
    assert all(not h["open"] for h in stapling_report_view(recorded("rollout_fleet"), open_hosts=2)["hosts"])


def test_unreachable_host_from_the_fleet_filter():
    doc = recorded("rollout_lab")
    host = doc["hosts"]["localhost"]
    fleet = stapling_fleet_report({"web1": host, "web9": None}, "rollout", doc["generated"],
                                  failed_hosts=["web9"], unreachable_hosts=["web9"])
    view = stapling_report_view(json.loads(json.dumps(fleet)))
    web9 = host_view(view, "web9")
    assert web9["status"] == "unreachable" and web9["tone"] == "bad"
    assert web9["problem"] == "Ansible could not reach the host"
    assert view["totals"]["hosts"] == 2 and view["totals"]["hosts_unreachable"] == 1


def test_every_host_status_and_vhost_state():
    doc = recorded("rollout_fleet")
    base = doc["hosts"]["web1"]
    hosts = {}
    for status in ("ok", "converged", "changed", "drift", "failed", "rolled_back", "refused"):
        h = copy.deepcopy(base)
        h["outcome"], h["host"] = status, "h-" + status
        h["cause"] = None if status in ("ok", "converged", "changed") else {
            "code": "x", "msg": status + " because", "fix": "do y"}
        h["check_mode"] = status == "drift"
        if status == "refused":  # refused before any change: nothing was verified
            for x in h["vhosts"]:
                x["staple"] = dict(x["staple"], checked=False, present=None, valid=None)
        hosts["h-" + status] = h
    odd = copy.deepcopy(base)
    odd["host"] = "h-odd"
    v = odd["vhosts"]
    v[0]["decision"], v[0]["code"] = "excluded", "excluded"
    v[1]["decision"], v[1]["code"], v[1]["reason"] = "remove", "state_absent", "state absent: our stapling removed"
    v[2]["staple"] = dict(v[2]["staple"], checked=False, present=None, valid=None)  # verification off
    v[3]["action"], v[3]["action_reason"], v[3]["decision"] = "refused", "an unmarked SSLUseStapling", "staple"
    v[4]["decision"], v[4]["code"] = "not_selected", "not_selected"
    v[5]["decision"], v[5]["code"] = "staple", "stapleable"
    v[5]["staple"] = {"checked": True, "present": True, "valid": False, "cert_status": "good", "age": 4000,
                      "this_update": "2026-12-03T08:00:00Z", "next_update": "2026-12-03T09:00:00Z",
                      "error_codes": ["expired"], "last_error": "nextUpdate 2026-12-03T09:00:00Z has passed",
                      "signer": "issuer"}
    hosts["h-odd"] = odd
    hosts["h-none"] = {"host": "h-none", "status": "no_report", "vhosts": [], "failure": {"task": None, "msg": "x"}}
    hosts["h-unreachable"] = {"host": "h-unreachable", "status": "unreachable", "vhosts": [],
                              "failure": {"task": None, "msg": "unreachable"}}
    view = stapling_report_view({"schema": doc["schema"], "playbook": "rollout", "generated": doc["generated"],
                                 "hosts": hosts})
    assert sorted(h["status"] for h in view["hosts"]) == sorted(
        ["ok", "converged", "changed", "drift", "failed", "rolled_back", "refused", "converged", "no_report",
         "unreachable"])
    # Every outcome but ok, converged and changed is a host row under "needs attention", with its cause and fix.
    flagged = dict((r["host"], r) for r in view["attention"] if r["host_only"])
    assert sorted(flagged) == ["h-drift", "h-failed", "h-none", "h-refused", "h-rolled_back", "h-unreachable"]
    assert flagged["h-refused"]["reason"] == "refused because" and flagged["h-refused"]["fix"] == "do y"
    assert rows_by_name(view, "h-refused")["good.lab.test"]["reason"].startswith("not stapled: the host was refused")
    states = rows_by_name(view, "h-odd")
    names = [x["server_name"] for x in odd["vhosts"]]
    assert [states[n]["state"] for n in names] == ["excluded", "removed", "pending", "failing", "excluded",
                                                   "failing"]
    assert states[names[3]]["reason"] == "the configuration change was refused: an unmarked SSLUseStapling"
    assert states[names[5]]["reason"].startswith("the stapled response has expired")
    assert states[names[5]]["fresh"]["expired"] and "expired 6 min ago" in states[names[5]]["staple_words"]
    assert rows_by_name(view, "h-drift")["good.lab.test"]["state"] == "verified"  # valid stays verified in a check
    failed = rows_by_name(view, "h-failed")
    assert failed["good.lab.test"]["state"] == "verified"  # its own staple verified; the host failed elsewhere
    assert view["totals"]["rolled_back"] == 1 and view["totals"]["changed"] == 2  # changed + drift hosts
    assert view["totals"]["failed_hosts"] == 4  # failed, refused, no report, unreachable
    assert {s["state"] for s in view["states"]} == {"verified", "expiring", "failing", "drift", "pending",
                                                    "rolled_back", "not_stapleable", "removed", "excluded"}


def test_empty_fleet():
    view = stapling_report_view({"schema": "ocsp.stapling/report/1", "playbook": "rollout",
                                 "generated": "2026-12-03T08:00:00Z", "totals": {}, "hosts": {}})
    assert view["totals"]["hosts"] == 0 and view["totals"]["vhosts"] == 0
    assert view["hosts"] == [] and view["rows"] == [] and view["chart"]["rows"] == []
    assert view["host_statuses"] == [] and view["audit"] is False
    html, md = stapling_report_render(json.dumps({"schema": "ocsp.stapling/report/1", "playbook": "rollout",
                                                  "generated": "2026-12-03T08:00:00Z", "hosts": {}}),
                                      template=[HTML, MD])
    assert "This summary lists no host." in html and "No verified staple in this summary to chart." in html
    assert "No vhost in this summary." in md and "| 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |" in md


@pytest.mark.parametrize("bad,match", [
    ("{not json", r"the summary \(/x/latest.json\) is not JSON"),
    ({"hosts": {}}, "is not an ocsp.stapling JSON summary"),
    ({"schema": "ocsp.stapling/report/1", "hosts": []}, "is not an ocsp.stapling JSON summary"),
    (["a"], "is not an ocsp.stapling JSON summary"),
])
def test_bad_summary_is_a_clear_error(bad, match):
    with pytest.raises(AnsibleFilterError, match=match):
        stapling_report_view(bad, source="/x/latest.json")


@pytest.mark.parametrize("kwargs,match", [
    ({"danger_fraction": 1.5}, "danger_fraction must be between 0 and 1"),
    ({"danger_fraction": "lots"}, "danger_fraction must be a number"),
    ({"chart_rows": "x"}, "chart_rows must be a number"),
])
def test_bad_options_are_clear_errors(kwargs, match):
    with pytest.raises(AnsibleFilterError, match=match):
        stapling_report_view(recorded("verify_lab"), **kwargs)


def test_chart_and_attention_are_capped():
    view = stapling_report_view(recorded("rollout_fleet"), chart_rows=2, attention_rows=2)
    assert len(view["chart"]["rows"]) == 2 and view["chart"]["total"] == 3 and view["chart"]["omitted"] == 1
    assert len(view["attention"]) == 2 and view["attention_total"] == 8 and view["attention_more"] == 6
    assert sum(c["vhosts"] for c in view["causes"]) == 6  # the causes count everything, not the capped list


@pytest.mark.parametrize("seconds,words", [(None, ""), (0, "0 s"), (45, "45 s"), (119, "119 s"), (120, "2 min"),
                                           (3599, "59 min"), (3600, "1 h"), (11100, "3 h 5 min"), (86400, "1 d"),
                                           (547200, "6 d 8 h"), (-720, "-12 min")])
def test_duration(seconds, words):
    assert duration(seconds) == words


# --- md_escape ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,escaped", [
    ("<script>alert(1)</script>", r"\<script\>alert(1)\</script\>"),
    ("a|b", r"a\|b"),
    ("line\nbreak\r\n  here", "line break here"),
    ("*bold* _it_ `code` [link](x) ~~s~~ &amp;", r"\*bold\* \_it\_ \`code\` \[link\](x) \~\~s\~\~ \&amp;"),
    (None, ""),
    (42, "42"),
    ("back\\slash", "back\\\\slash"),
])
def test_md_escape(text, escaped):
    assert md_escape(text) == escaped


def test_md_escape_cuts_long_text():
    assert md_escape("x" * 50, max_length=10) == "x" * 9 + u"\u2026"


# --- rendering with the role's templates ----------------------------------------------------------------------------

class Page(HTMLParser):
    """Elements, attributes, text and the contents of <style> and <script> of a page."""

    def __init__(self, text):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.tags, self.attrs, self.text, self.styles, self.scripts = [], [], [], [], []
        self._in = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v) for k, v in attrs)
        self._in = tag if tag in ("style", "script") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self.styles.append(data)
        elif self._in == "script":
            self.scripts.append(data)
        else:
            self.text.append(data)


def strings_to(doc, payload):
    """Every string in the summary (names, reasons, messages, paths, versions...) replaced by payload + its place."""
    count = [0]

    def walk(x):
        if isinstance(x, dict):
            return dict((k, walk(v)) for k, v in x.items())
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, str) and not re.match(r"^\d{4}-\d\d-\d\dT", x) and x not in (
                "ocsp.stapling/report/1",):
            count[0] += 1
            return "{0}#{1}".format(payload, count[0])
        return x
    out = walk(doc)
    return out, count[0]


PAYLOAD = "<xinj data-x=\"1\">x</xinj>'\"&amp;<script>alert(1)</script>{{ 7 * 191 }}|*"


@pytest.mark.parametrize("name", ["rollout_fleet", "audit_lab"])
def test_everything_from_a_host_is_text_in_the_page(name):
    doc, n = strings_to(recorded(name), PAYLOAD)
    assert n > 50
    # Host statuses and vhost decisions are codes the view reads, not shown text: keep them real.
    original = recorded(name)
    for (_n1, oh), (_n2, h) in zip(sorted(original["hosts"].items()), sorted(doc["hosts"].items())):
        h["status"] = oh["status"]
        for ov, v in zip(oh["vhosts"], h["vhosts"]):
            v["decision"], v["code"], v["action"] = ov["decision"], ov["code"], ov["action"]
            v["staple"]["error_codes"] = ov["staple"]["error_codes"]
            v["staple"]["cert_status"], v["staple"]["signer"] = ov["staple"]["cert_status"], ov["staple"]["signer"]
    html = stapling_report_render(doc, template=HTML)
    page = Page(html)
    assert "xinj" not in page.tags  # no element made of a host's text
    assert page.tags.count("script") == 1  # ours only
    assert not [a for a in page.attrs if a[1] == "data-x"]
    text = "".join(page.text)
    assert text.count(PAYLOAD) >= 20  # shown, as text
    assert "1337" not in html
    md = stapling_report_render(doc, template=MD)
    rendered = gfm(md)  # GitHub's own renderer, raw HTML let through: a < that was not neutralized would show
    assert "<xinj" not in rendered and "<script" not in rendered and "<a " not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered


def test_a_vhost_named_script_renders_as_text():
    doc = recorded("rollout_lab")
    doc["hosts"]["localhost"]["vhosts"][0]["server_name"] = "<script>alert('owned')</script>"
    html, md = stapling_report_render(doc, template=[HTML, MD])
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in html
    assert "alert('owned')" not in html.split("<script>")[-1]  # not in our own script block either
    assert html.count("<script") == 1
    assert "<script>alert('owned')</script>" in "".join(Page(html).text)
    assert "`<script>alert('owned')</script>`" in md  # a name: a code span
    assert "<code>&lt;script&gt;alert('owned')&lt;/script&gt;</code>" in gfm(md)


EXTERNAL_ATTRS = ("src", "href", "action", "formaction", "xlink:href", "srcset", "poster", "data", "background",
                  "ping", "manifest", "codebase", "cite", "longdesc")


@pytest.mark.parametrize("name", ["rollout_lab", "rollout_fleet", "audit_lab", "verify_lab"])
def test_the_page_references_nothing_outside_itself(name):
    html = stapling_report_render(recorded(name), template=HTML)
    page = Page(html)
    assert not set(page.tags) & {"link", "img", "iframe", "object", "embed", "base", "audio", "video", "source",
                                 "image", "use", "form", "frame"}
    refs = [(tag, k, v) for tag, k, v in page.attrs if k in EXTERNAL_ATTRS]
    assert refs and all(k == "href" and v.startswith("#") for _tag, k, v in refs), refs  # in-page links only
    assert not [a for a in page.attrs if a[1] == "http-equiv"]
    for block in page.styles + [v for _t, k, v in page.attrs if k == "style"]:
        assert "url(" not in block and "@import" not in block
    for script in page.scripts:
        for needle in ("fetch(", "XMLHttpRequest", "import(", "src", "http", "WebSocket", "sendBeacon", "//"):
            assert needle not in script.replace("/* file: URLs in some browsers */", ""), needle
    # URLs appear only as text from the certificates (OCSP URIs), never in markup.
    assert all("http" not in (v or "") for _t, _k, v in page.attrs)


def test_page_totals_and_rows():
    html = stapling_report_render(recorded("rollout_fleet"), template=HTML)
    totals = re.findall(r'data-key="([a-z_]+)"[^>]*><b>(\d+)</b><span>([^<]+)</span>', html)
    assert [(k, int(n)) for k, n, _l in totals] == [("hosts", 3), ("vhosts", 12), ("verified", 3), ("failing", 5),
                                                    ("not_stapleable", 2), ("changed", 0), ("rolled_back", 1),
                                                    ("failed_hosts", 1)]
    assert len(re.findall(r'<tr class="tone-[a-z]+[^"]*" data-state=', html)) == 12
    assert html.count('<details class="host') == 3


def test_markdown_tables_keep_their_columns():
    doc = recorded("rollout_fleet")
    [v for v in doc["hosts"]["web1"]["vhosts"] if v["decision"] == "error"][0]["reason"] = "a | b\n| c"
    md = stapling_report_render(doc, template=MD)
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert table_lines
    tables = []
    for line in md.splitlines():
        if line.startswith("|"):
            if not tables or tables[-1] is None:
                tables.append([])
            tables[-1].append(len(re.findall(r"(?<!\\)\|", line)))
        elif tables and tables[-1] is not None:
            tables.append(None)
    for counts in [t for t in tables if t]:
        assert len(set(counts)) == 1, counts
    assert "a \\| b \\| c" in md
    assert md.startswith("## OCSP stapling: rollout")
    assert "| 3 | 12 | 3 | 5 | 2 | 0 | 1 | 1 |" in md
    assert re.search(r"^\| `web3` \|  \| 🔴 unreachable \|  \| Ansible could not reach the host: .* \*\*Fix:\*\* "
                     r"check SSH and the network", md, re.M), md
    assert "| 🔴 certificate revoked | 2 | 2 | `web1` · `revoked.lab.test` |" in md
    assert "| 🔴 host unreachable |  | 1 | `web3` |" in md


def test_markdown_is_capped_with_a_note():
    md = stapling_report_render(recorded("rollout_fleet"), template=MD, markdown_rows=4)
    rows = [line for line in md.splitlines() if line.startswith("| `web")]
    assert len(rows) == 4 + 4  # 4 of what needs attention + 4 vhost rows
    assert "… and 4 more that need attention" in md and "… and 8 more vhosts" in md


def test_render_errors_name_the_template(tmp_path):
    with pytest.raises(AnsibleFilterError, match="template '/nonexistent.j2' is not a file"):
        stapling_report_render(recorded("verify_lab"), template="/nonexistent.j2")
    broken = tmp_path / "broken.html.j2"
    broken.write_text("{% for x in v.hosts %}")
    with pytest.raises(AnsibleFilterError, match=r"broken.html.j2 line 1: .*endfor"):
        stapling_report_render(recorded("verify_lab"), template=str(broken))
    undefined = tmp_path / "undefined.md.j2"
    undefined.write_text("{{ v.no_such_thing }}")
    with pytest.raises(AnsibleFilterError, match="undefined.md.j2.*no_such_thing"):
        stapling_report_render(recorded("verify_lab"), template=str(undefined))


def test_own_template_autoescaped_by_name(tmp_path):
    page = tmp_path / "mine.html.j2"
    page.write_text("{% for h in v.hosts %}<p>{{ h.name }}</p>{% endfor %}")
    text = tmp_path / "mine.txt.j2"
    text.write_text("{% for h in v.hosts %}{{ h.name }}{% endfor %}")
    doc = recorded("verify_lab")
    doc["hosts"] = {"<b>": dict(doc["hosts"]["localhost"], host="<b>")}
    assert stapling_report_render(doc, template=str(page)) == "<p>&lt;b&gt;</p>"
    assert stapling_report_render(doc, template=str(text)) == "<b>"


def test_host_facts_in_words():
    doc = recorded("rollout_lab")
    h = doc["hosts"]["localhost"]
    h.update(reloads=[{"phase": "change", "mode": "restart", "downtime": 0.4213}],
             firewall={"backend": "nftables", "rules": [{}, {}], "added": ["a"], "removed": [], "persisted": True})
    facts = dict(host_view(stapling_report_view(doc), "localhost")["facts"])
    assert facts["reload"] == "restart, 0.42 s without service"
    assert facts["egress"] == "nftables: 2 rule(s), 1 added, 0 removed, persisted"
    assert facts["OpenSSL"] == "mod_ssl links 3.0.19, CLI 3.0.19"
    h["reloads"][0]["downtime"] = "n/a"  # not a number: left out, not a traceback
    assert dict(host_view(stapling_report_view(doc), "localhost")["facts"])["reload"] == "restart"


# --- outcomes, hazards, a kept cache, hostile names (issues 26 and 24 #9) ------------------------------------------

def with_host(doc, name, **fields):
    doc = copy.deepcopy(doc)
    doc["hosts"]["localhost"].update(fields)
    return doc


@pytest.mark.parametrize("outcome", ["ok", "converged", "changed", "drift", "refused", "rolled_back", "failed",
                                     "unreachable", "no_report"])
def test_only_ok_converged_changed_leave_the_attention_list_empty(outcome):
    doc = recorded("verify_lab")  # every staple valid: nothing else needs attention
    word = outcome.replace("_", "-")
    cause = None if outcome in ("ok", "converged", "changed") else {
        "code": "c", "msg": "why " + word, "fix": "fix " + word}
    doc = with_host(doc, "localhost", outcome=outcome, cause=cause, check_mode=outcome == "drift")
    view = stapling_report_view(doc)
    html, md = stapling_report_render(doc, template=[HTML, MD])
    if cause is None:
        assert view["attention"] == [] and 'id="nothing"' in html and "Nothing needs attention" in md
    else:
        assert [(r["host"], r["state"], r["reason"], r["fix"]) for r in view["attention"] if r["host_only"]] == [
            ("localhost", outcome, "why " + word, "fix " + word)]
        assert 'id="nothing"' not in html and "why " + word in html and "Fix: fix " + word in html
        assert 'data-outcome="{0}"'.format(outcome) in html
        assert "why " + word in md and "**Fix:** fix " + word in md


def test_an_older_summary_gets_its_outcomes_decided_by_the_same_code():
    view = stapling_report_view(recorded("rollout_fleet_before_outcome"))
    assert dict((h["name"], h["outcome"]) for h in view["hosts"]) == {"web1": "converged", "web2": "rolled_back",
                                                                      "web3": "no_report"}
    web2 = host_view(view, "web2")
    assert web2["cause"]["code"] == "verification_failed" and "second-issuer.lab.test" in web2["cause"]["msg"]


def test_hazards_are_listed_with_file_and_line_in_both_formats():
    hazard = {"code": "stapling_without_cache", "severity": "error", "file": "/etc/apache2/sites-enabled/good.conf",
              "line": 7, "msg": "SSLUseStapling on for good.lab.test but no global SSLStaplingCache",
              "fix": "add a global SSLStaplingCache"}
    doc = with_host(recorded("verify_lab"), "localhost", hazards=[hazard])
    view = stapling_report_view(doc)
    row = [r for r in view["attention"] if r["state"] == "hazard"][0]
    assert row["where"] == "/etc/apache2/sites-enabled/good.conf:7" and row["tone"] == "bad"
    assert view["causes"][0]["words"].startswith("Apache will not start: SSLUseStapling without SSLStaplingCache")
    html, md = stapling_report_render(doc, template=[HTML, MD])
    assert 'data-hazard="stapling_without_cache"' in html and "(/etc/apache2/sites-enabled/good.conf:7)" in html
    assert "| 🔴 hazard | `/etc/apache2/sites-enabled/good.conf:7` | SSLUseStapling on for good.lab.test" in md


def test_a_kept_cache_is_informational_attention():
    kept = {"reason": "a rollback", "parent_pid": 4242, "since": "2026-12-03T08:00:00Z"}
    doc = with_host(recorded("rollout_lab"), "localhost", cache_kept=kept)
    view = stapling_report_view(doc)
    row = [r for r in view["attention"] if r["state"] == "cache_kept"][0]
    assert row["tone"] == "info" and "removed by the next run after Apache restarts" in row["reason"]
    assert host_view(view, "localhost")["outcome"] == "changed"  # not a failure
    html, md = stapling_report_render(doc, template=[HTML, MD])
    assert "cache kept" in md and "Apache parent PID 4242" in md and "(AH00820)" in html


def test_long_fields_are_cut_in_both_formats():
    """Issue 24 #9: a 2 MB vhost name came out whole."""
    doc = recorded("rollout_lab")
    doc["hosts"]["localhost"]["vhosts"][0]["server_name"] = "a" * (2 * 1024 * 1024)
    doc["hosts"]["localhost"]["vhosts"][1]["reason"] = "r" * (2 * 1024 * 1024)
    html, md = stapling_report_render(doc, template=[HTML, MD])
    assert len(html) < 200000 and len(md) < 50000
    assert "a" * 254 + u"\u2026" in html and "a" * 256 not in html
    assert "`" + "a" * 254 + u"\u2026`" in md and "a" * 256 not in md
    assert "r" * 401 not in md and u"r\u2026" in md and "r" * 2001 not in html and u"r\u2026" in html


def test_names_that_look_like_urls_are_not_links_in_markdown():
    """Issue 24 #9: GitHub links www.evil-login.example in plain text by itself."""
    doc = recorded("rollout_fleet")
    doc["hosts"]["www.evil-host.example"] = dict(doc["hosts"].pop("web2"), host="www.evil-host.example")
    v = [x for x in doc["hosts"]["web1"]["vhosts"] if x["decision"] == "error"][0]
    v["server_name"] = "www.evil-login.example"
    v["reason"] = "see https://evil.example/login or mail admin@evil.example or www.evil-login.example|x"
    md = stapling_report_render(doc, template=MD)
    html = gfm(md)
    assert "<a " not in html, [line for line in html.splitlines() if "<a " in line][:3]
    assert "<code>www.evil-login.example</code>" in html and "<code>www.evil-host.example</code>" in html
    assert "<code>https://evil.example/login</code>" in html and "<code>admin@evil.example</code>" in html
    # the control: the same text without md_code / md_escape is linked by this renderer
    assert '<a href="http://www.evil-login.example">' in gfm("| a |\n|---|\n| www.evil-login.example |")
