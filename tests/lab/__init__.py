"""The ocsp.stapling lab: real PKI, real OCSP responders, real Apache, all on loopback.

See tests/lab/README.md. ``Lab(state_dir).up()`` brings up the default lab;
``Lab(state_dir).down()`` (from any process) stops everything it started, by PID.
"""

import json
import os
import shutil

from .apache import ApacheError, ApacheSandbox
from .pki import PKI
from .procs import free_port, pid_alive, stop_pid
from .responders import MODES, FaultResponder, OpensslResponder

__all__ = ["Lab", "ROLLOUT_VHOSTS", "PKI", "ApacheSandbox", "ApacheError", "OpensslResponder", "FaultResponder", "MODES",
           "free_port", "STAPLING_GLOBAL"]

# The hand-written stapling config of the lab (the rollout role will template this later).
STAPLING_GLOBAL = """# ocsp.stapling lab: hand-written stapling config
SSLStaplingCache shmcb:${APACHE_RUN_DIR}/ssl_stapling(128000)
SSLStaplingResponderTimeout 5
SSLStaplingReturnResponderErrors off
SSLStaplingFakeTryLater off
"""

DEFAULT_VHOSTS = ("good", "revoked", "no_uri", "must_staple", "second_issuer")
# The rollout lab (`up(stapling=False)`): no stapling configured at all, plus a vhost serving the good certificate
# without its chain file (the issuer is nowhere mod_ssl looks: AH02217).
ROLLOUT_VHOSTS = DEFAULT_VHOSTS + ("missing_chain",)


def certbot_live(base, leaf):
    """The leaf's files as certbot keeps them: ``archive/NAME/{cert,chain,fullchain,privkey}1.pem`` and
    ``live/NAME/*.pem`` relative symlinks into them (certbot's layout); returns {kind: live path}."""
    name = leaf.server_name
    archive, live = os.path.join(base, "archive", name), os.path.join(base, "live", name)
    os.makedirs(archive, 0o700, exist_ok=True)
    os.makedirs(live, 0o755, exist_ok=True)
    sources = {"cert": leaf.cert_path, "chain": leaf.chain_path, "fullchain": leaf.fullchain_path,
               "privkey": leaf.key_path}
    out = {}
    for kind, src in sources.items():
        shutil.copyfile(src, os.path.join(archive, kind + "1.pem"))
        os.chmod(os.path.join(archive, kind + "1.pem"), 0o600 if kind == "privkey" else 0o644)
        link = os.path.join(live, kind + ".pem")
        os.symlink(os.path.join("..", "..", "archive", name, kind + "1.pem"), link)
        out[kind] = link
    return out


class Lab(object):
    """PKI + openssl ocsp + our fault responder + a sandbox Apache with one TLS vhost per leaf."""

    def __init__(self, state_dir):
        self.state_dir = os.path.abspath(state_dir)
        self.state_file = os.path.join(self.state_dir, "state.json")
        self.pki = None
        self.openssl = None
        self.fault = None
        self.apache = None

    def up(self, vhosts=DEFAULT_VHOSTS, stapling=True):
        """Bring the lab up. stapling=False: no stapling directive anywhere (what the rollout role starts from)."""
        if os.path.exists(self.state_file) and self.status()["running"]:
            raise RuntimeError("a lab is already running from {0}; run 'down' first".format(self.state_dir))
        if os.path.exists(self.state_dir):
            shutil.rmtree(self.state_dir)
        os.makedirs(self.state_dir)
        ossl_port, fault_port = free_port(), free_port()
        self.pki = PKI.create(os.path.join(self.state_dir, "pki"), "http://127.0.0.1:{0}/".format(ossl_port),
                              second_ocsp_url="http://127.0.0.1:{0}/".format(fault_port))
        try:
            self.openssl = OpensslResponder(self.pki, self.state_dir, port=ossl_port).start()
            self._save()
            self.fault = FaultResponder(self.pki.directory, self.state_dir, port=fault_port).start()
            self._save()
            # A stock Debian host: sites in sites-available enabled by a2ensite, the stock default-ssl site, the good
            # certificate as certbot keeps it (live/ links into archive/), one site file 0640 root:ssl-cert.
            self.apache = ApacheSandbox(self.state_dir, stock=True)
            if stapling:
                self.apache.set_global(STAPLING_GLOBAL)
            for name in vhosts:
                directives = ["SSLUseStapling on"] if stapling else []
                if name == "missing_chain":
                    leaf = self.pki.certs["good"]
                    self.apache.add_vhost(name, leaf.cert_path, leaf.key_path, server_name="missing-chain.lab.test",
                                          directives=directives)
                    continue
                leaf = self.pki.certs[name]
                if name == "good":
                    live = certbot_live(os.path.join(self.state_dir, "letsencrypt"), leaf)
                    self.apache.add_vhost(name, live["fullchain"], live["privkey"], server_name=leaf.server_name,
                                          directives=directives)
                    continue
                restricted = dict(mode=0o640, group="ssl-cert") if name == "must_staple" else {}
                self.apache.add_vhost(name, leaf.cert_path, leaf.key_path, chain_path=leaf.chain_path,
                                      server_name=leaf.server_name, directives=directives, **restricted)
            ok, out = self.apache.configtest()
            if not ok:
                raise ApacheError("lab config fails configtest:\n" + out)
            self.apache.start()
            self._save()
        except BaseException:
            self.down()
            raise
        return self

    @property
    def vhosts(self):
        """The vhosts of the PKI's leaves (the stock default-ssl site is ``lab.apache.vhosts["default-ssl"]``)."""
        return dict((k, v) for k, v in self.apache.vhosts.items() if k != "default-ssl") if self.apache else {}

    def _save(self):
        state = {
            "state_dir": self.state_dir,
            "pki_dir": self.pki.directory if self.pki else None,
            "openssl": {"pid": self.openssl.pid, "port": self.openssl.port, "url": self.openssl.url}
            if self.openssl else None,
            "fault": {"pid": self.fault.pid, "port": self.fault.port, "url": self.fault.url()} if self.fault else None,
            "apache": {"confdir": self.apache.confdir, "pid_file": self.apache.pid_file,
                       "pid": self.apache.pid, "error_log": self.apache.error_log,
                       "vhosts": self.apache.vhosts} if self.apache else None,
        }
        with open(self.state_file, "w") as f:
            json.dump(state, f, indent=1)

    def _load(self):
        with open(self.state_file) as f:
            return json.load(f)

    def status(self):
        if not os.path.exists(self.state_file):
            return {"running": False, "state_dir": self.state_dir}
        state = self._load()
        apache_pid = None
        if state.get("apache"):
            try:
                with open(state["apache"]["pid_file"]) as f:
                    apache_pid = int(f.read().strip())
            except (OSError, ValueError):
                apache_pid = state["apache"].get("pid")
        parts = {
            "openssl_ocsp": bool(state.get("openssl")) and pid_alive(state["openssl"]["pid"]),
            "fault_responder": bool(state.get("fault")) and pid_alive(state["fault"]["pid"]),
            "apache": bool(apache_pid) and pid_alive(apache_pid),
        }
        state["alive"] = parts
        state["running"] = any(parts.values())
        return state

    def down(self):
        """Stop everything this lab started (from any process), by PID."""
        if self.apache is not None:
            self.apache.stop()
        if self.fault is not None:
            self.fault.stop()
        if self.openssl is not None:
            self.openssl.stop()
        if os.path.exists(self.state_file):
            state = self._load()
            if state.get("apache"):
                try:
                    with open(state["apache"]["pid_file"]) as f:
                        stop_pid(int(f.read().strip()))
                except (OSError, ValueError):
                    pass
                if state["apache"].get("pid"):
                    stop_pid(state["apache"]["pid"])
            if state.get("fault"):
                stop_pid(state["fault"]["pid"])
            if state.get("openssl"):
                from .procs import children_of
                kids = children_of(state["openssl"]["pid"]) if pid_alive(state["openssl"]["pid"]) else []
                stop_pid(state["openssl"]["pid"])
                for kid in kids:
                    stop_pid(kid)
            os.unlink(self.state_file)
        self.apache = self.fault = self.openssl = None
