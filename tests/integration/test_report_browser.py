"""The fleet report page in a real browser: Debian's Chromium, headless, loads the HTML the playbook
ocsp.stapling.report rendered from a recorded summary, from disk. --dump-dom shows the totals and the rows expected, the
plain-JS filter and sort work (driven by the page's #q= / #state= / #sort= fragment), the page reads the same without
JS, a vhost named <script> is text, and a screenshot goes to tests/output/report/ for a person to look at.

No network request: the file is checked for external references (unit tests), and here every run of Chromium has
--host-resolver-rules="MAP * ~NOTFOUND" and a proxy of ours on loopback for every scheme and host, loopback included
(--proxy-bypass-list="<-loopback>"): the proxy records any connection and answers none. A control page with an external
image proves the proxy sees what a page asks for. Chromium is stopped by its PID."""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
from html.parser import HTMLParser

import pytest

import ansible_runner

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "tests", "unit", "fixtures", "report")
OUTPUT = os.path.join(ROOT, "tests", "output", "report")


# Hosts Headless Chromium 156 (Debian) contacted by itself here with any page, even about:blank-like ones; nothing a
# page could use for fonts, scripts or images (fonts.googleapis.com, gstatic.com... are NOT in this list).
CHROMIUM_OWN = {"update.googleapis.com", "accounts.google.com", "clients2.google.com", "redirector.gvt1.com",
                "safebrowsing.googleapis.com", "optimizationguide-pa.googleapis.com", "clientservices.googleapis.com"}


class Proxy(object):
    """A TCP listener on 127.0.0.1 that records the first bytes of every connection and closes it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.seen.append(conn.recv(512).decode("latin-1"))
                except OSError:
                    self.seen.append("")

    def requests(self):
        """(target host, first line) of every request; Chromium's own services (component updates, account and time
        checks it makes whatever the page, with or without the flags below) left out. An unreadable request counts."""
        out = []
        for data in self.seen:
            line = data.split("\r\n", 1)[0]
            m = re.match(r"^CONNECT ([^:/ ]+):\d+ |^[A-Z]+ [a-z]+://([^:/ ]+)", line)
            host = (m.group(1) or m.group(2)) if m else None
            if host not in CHROMIUM_OWN:
                out.append((host, line))
        return out

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def proxy():
    p = Proxy()
    try:
        yield p
    finally:
        p.close()


def chromium(url, tmp_path, proxy, *args):
    """Run headless Chromium on url; return its stdout. Stopped by PID if it outlives the timeout."""
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is not installed (scripts/apt-packages.txt; ./scripts/setup.sh installs it)"
    argv = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(tmp_path / "chromium"),
            # No name resolves (but our proxy's address: with "MAP * ~NOTFOUND" alone Chromium cannot reach the proxy
            # either, and a request would go unseen).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:{0}".format(proxy.port), "--proxy-bypass-list=<-loopback>",
            "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
            "--disable-sync", "--no-first-run", "--no-default-browser-check", "--metrics-recording-only",
            "--disable-breakpad", "--no-pings", "--disable-features=Translate,MediaRouter,OptimizationHints"]
    argv += list(args) + [url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()  # by its PID
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    return out


class Dom(HTMLParser):
    """The parts of a dumped DOM the tests read: elements with their attributes, and text per element id/class."""

    def __init__(self, text):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.elements = []
        self._stack = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "text": [], "parents": list(self._stack)}
        self.elements.append(el)
        if tag not in ("meta", "br", "input", "link", "rect", "line"):
            self._stack.append(el)

    def handle_endtag(self, tag):
        if any(el["tag"] == tag for el in self._stack):
            while self._stack and self._stack.pop()["tag"] != tag:
                pass

    def handle_data(self, data):
        for el in self._stack:
            el["text"].append(data)

    def find(self, tag=None, **attrs):
        out = []
        for el in self.elements:
            if tag and el["tag"] != tag:
                continue
            if all(el["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(el)
        return out


def text(el):
    return " ".join("".join(el["text"]).split())


def first(el):
    """The first piece of text in an element (a vhost row: the vhost's name)."""
    return [t for t in el["text"] if t.strip()][0].strip()


def hidden(el):
    return "hidden" in el["attrs"] or any("hidden" in p["attrs"] for p in el["parents"])


def render(tmp_path, fixture, name="latest", mutate=None):
    """The real playbook ocsp.stapling.report over a copy of a recorded summary; the page's path."""
    reports = tmp_path / "reports"
    reports.mkdir(exist_ok=True)
    with open(os.path.join(FIXTURES, fixture + ".json")) as f:
        doc = json.load(f)
    if mutate:
        mutate(doc)
    source = reports / (name + ".json")
    source.write_text(json.dumps(doc))
    rc, _results, out = ansible_runner.run_playbook(
        "ocsp.stapling.report", extra_args=["-e", "stapling_report_input=" + str(source)])
    assert rc == 0, out[-3000:]
    page = reports / (name + ".html")
    assert page.is_file()
    return str(page)


def host_sections(dom):
    return [d for d in dom.find("details") if "data-host" in d["attrs"]]


def tiles(dom):
    """(key, number) of each total in the header: <a data-key=...><b>N</b><span>label</span></a>."""
    return [(a["attrs"]["data-key"], int(text([b for b in dom.find("b") if a in b["parents"]][0])))
            for a in dom.find("a") if "data-key" in a["attrs"]]


def vhost_rows(dom, host=None):
    rows = [tr for tr in dom.find("tr") if "data-state" in tr["attrs"]]
    if host:
        rows = [tr for tr in rows if any(p["attrs"].get("data-host") == host for p in tr["parents"])]
    return rows


def test_dump_dom_shows_totals_and_rows(tmp_path, proxy):
    page = render(tmp_path, "rollout_fleet")
    dom = Dom(chromium("file://" + page, tmp_path, proxy, "--dump-dom"))
    assert tiles(dom) == [("hosts", 3), ("vhosts", 12), ("verified", 3), ("failing", 5), ("not_stapleable", 2),
                          ("changed", 0), ("rolled_back", 1), ("failed_hosts", 1)]
    assert dom.find("html")[0]["attrs"].get("class") == "js"  # our script ran
    assert "hidden" not in dom.find(id="controls")[0]["attrs"]  # and showed the filter controls
    hosts = [d["attrs"]["data-host"] for d in host_sections(dom)]
    assert hosts == ["web2", "web3", "web1"]
    assert len(vhost_rows(dom)) == 12 and not [tr for tr in vhost_rows(dom) if hidden(tr)]
    web2 = dict((first(tr), tr["attrs"]["data-state"]) for tr in vhost_rows(dom, "web2"))
    assert web2 == {"good.lab.test": "rolled_back", "missing-chain.lab.test": "failing",
                    "must-staple.lab.test": "rolled_back", "no-uri.lab.test": "not_stapleable",
                    "revoked.lab.test": "failing", "second-issuer.lab.test": "failing"}
    second = [tr for tr in vhost_rows(dom, "web2") if first(tr) == "second-issuer.lab.test"][0]
    assert "no staple: Apache sent no OCSP response" in text(second)
    attention = text(dom.find(id="attention")[0])
    assert "Ansible could not reach the host" in attention and "Fix: check SSH and the network" in attention
    assert "the previous configuration was restored" in attention  # web2, rolled back
    assert "1 at risk" in text(dom.find(id="must-staple")[0])
    chart = dom.find("svg")[0]
    assert len([g for g in dom.find("g") if chart in g["parents"]]) == 3
    assert proxy.requests() == []


def test_screenshot_for_a_person(tmp_path, proxy):
    page = render(tmp_path, "rollout_fleet")
    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, "report-fleet.png")
    if os.path.exists(shot):
        os.unlink(shot)
    chromium("file://" + page, tmp_path, proxy, "--screenshot=" + shot, "--window-size=1280,2200",
             "--hide-scrollbars")
    with open(shot, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    print("screenshot: " + shot)
    assert proxy.requests() == []


def test_filter_and_sort_from_the_fragment(tmp_path, proxy):
    page = render(tmp_path, "rollout_fleet")
    dom = Dom(chromium("file://" + page + "#state=failing", tmp_path, proxy, "--dump-dom"))
    shown = [tr for tr in vhost_rows(dom) if not hidden(tr)]
    assert {tr["attrs"]["data-state"] for tr in shown} == {"failing"} and len(shown) == 5
    assert text(dom.find(id="shown")[0]) == "5 of 12 vhosts shown"
    assert [d["attrs"]["data-host"] for d in host_sections(dom) if "hidden" not in d["attrs"]] == \
        ["web2", "web3", "web1"]  # web3 has no vhost row: a host that failed counts as failing

    dom = Dom(chromium("file://" + page + "#q=second-issuer", tmp_path, proxy, "--dump-dom"))
    shown = [first(tr) for tr in vhost_rows(dom) if not hidden(tr)]
    assert shown == ["second-issuer.lab.test", "second-issuer.lab.test"]
    assert [d["attrs"]["data-host"] for d in host_sections(dom) if "hidden" not in d["attrs"]] == ["web2", "web1"]

    dom = Dom(chromium("file://" + page + "#sort=0:desc", tmp_path, proxy, "--dump-dom"))
    names = [first(tr) for tr in vhost_rows(dom, "web1")]
    assert names == sorted(names, reverse=True) and len(names) == 6
    assert [th["attrs"].get("aria-sort") for th in dom.find("th") if th["attrs"].get("data-col") == "0"][0] == \
        "descending"
    assert proxy.requests() == []


def test_reads_without_javascript(tmp_path, proxy):
    """Headless Chromium cannot dump the DOM or take a screenshot with scripts disabled (both go through its own
    scripting): it loads the page without its one <script> element instead, which is what a browser without
    JavaScript makes of it."""
    page = render(tmp_path, "rollout_fleet")
    with open(page) as f:
        html = f.read()
    assert html.count("<script>") == 1
    nojs = tmp_path / "reports" / "nojs.html"
    nojs.write_text(re.sub(r"<script>.*?</script>", "", html, flags=re.S))
    dom = Dom(chromium("file://" + str(nojs) + "#state=failing", tmp_path, proxy, "--dump-dom"))
    assert dom.find("script") == [] and dom.find("html")[0]["attrs"].get("class") is None
    assert "hidden" in dom.find(id="controls")[0]["attrs"]  # controls that would not work stay out of sight
    assert tiles(dom) == [("hosts", 3), ("vhosts", 12), ("verified", 3), ("failing", 5), ("not_stapleable", 2),
                          ("changed", 0), ("rolled_back", 1), ("failed_hosts", 1)]
    assert len(vhost_rows(dom)) == 12 and not [tr for tr in vhost_rows(dom) if hidden(tr)]  # the fragment did nothing
    assert all("open" in d["attrs"] for d in host_sections(dom))  # a small fleet is shown expanded
    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, "report-fleet-nojs.png")
    chromium("file://" + str(nojs), tmp_path, proxy, "--screenshot=" + shot, "--window-size=1280,2200",
             "--hide-scrollbars")
    assert os.path.getsize(shot) > 20000
    assert proxy.requests() == []


def test_a_vhost_named_script_is_text_in_the_browser(tmp_path, proxy):
    def mutate(doc):
        doc["hosts"]["web1"]["vhosts"][0]["server_name"] = "<script>document.title='owned'</script>"
    page = render(tmp_path, "rollout_fleet", mutate=mutate)
    dom = Dom(chromium("file://" + page, tmp_path, proxy, "--dump-dom"))
    assert len(dom.find("script")) == 1  # ours
    assert text(dom.find("title")[0]).startswith("OCSP stapling rollout report")
    assert "<script>document.title='owned'</script>" in [first(tr) for tr in vhost_rows(dom, "web1")]
    assert proxy.requests() == []


def test_control_the_proxy_sees_what_a_page_asks_for(tmp_path, proxy):
    """The oracle can fail: a page with an external image makes Chromium ask our proxy for it."""
    page = tmp_path / "external.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://198.51.100.7/pixel.png">'
                    '<img src="http://ocsp.example.invalid/x.png"></body></html>')
    chromium("file://" + str(page), tmp_path, proxy, "--dump-dom")
    asked = [host for host, _line in proxy.requests()]
    assert "198.51.100.7" in asked and "ocsp.example.invalid" in asked, proxy.seen
