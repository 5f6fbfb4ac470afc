"""Property-based fuzzing (hypothesis) of what reads hostile input: the Apache configuration reader, the certificate
reader and the OCSP validator. Shared by the short seeded run in CI (tests/integration/test_fuzz.py) and the long run
(benchmarks/fuzz/run.py).

The properties:

- **config reader**: any text (the lab's generated configurations with hypothesis' edits: quotes, continuations,
  CR, NUL, ``${VAR}``, ``<``, ``#``... inserted anywhere) is read or refused with a StaplingError, never another
  exception; and, with Apache's ``-t`` as the oracle (``lab.config_fuzz.judge``: the module's whole ``gather``
  against ``apache2 -t -D DUMP_VHOSTS``), Apache accepts -> the same vhosts, Apache refuses -> ``configtest_failed``.
- **certificate reader**: any bytes (edits of a real PEM bundle with a key, a chain, extra BEGIN/END lines, or of
  a DER certificate) give certificates or a StaplingError; every certificate read has a summary; an unreadable one
  has a fallback summary from its DER. Never another exception.
- **OCSP validator**: edits of a valid response's bytes never raise, and the verdict is ``valid`` only when an
  independent check (cryptography's own parse, the issuer's key over the signed bytes, the CertID of the served
  certificate, status good) agrees.

``run(target, max_examples, seed)`` runs one property and returns what it saw (for the benchmark's table).
"""

import atexit
import datetime
import os
import re
import shutil
import tempfile
import threading

from hypothesis import HealthCheck, given, seed as hypothesis_seed, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from ansible_collections.ocsp.stapling.plugins.module_utils import _apache, _ocsp, _x509
from ansible_collections.ocsp.stapling.plugins.module_utils._apache_config import ConfigReader
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError
from lab.config_fuzz import MinimalRoot, cached_runner, generate, judge
from lab.pki import PKI
from lab.responders import build_response


def _tempdir(prefix):
    """A temporary directory removed when the process exits (a long run writes thousands of configurations)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


# hypothesis keeps caches in ./.hypothesis even without an example database: never in the checkout (the built
# tarball would carry it), always in a directory of this process's own.
set_hypothesis_home_dir(_tempdir("hypothesis-"))

# What a configuration edit inserts: what the reader treats specially, and some plain text.
CONFIG_PIECES = ["\\\n", "\\\r\n", "\\", "\n", "\r\n", "\r", '"', "'", "#", "${", "}", "${UNDEFINED}", "<", ">",
                 "</VirtualHost>", "<VirtualHost *:443>", "<IfModule ssl_module>", "</IfModule>", " ", "\t", "\0",
                 "Define X y\n", "${X}", "Use", "\u00e9", "a"]
CERT_PIECES = [b"-----BEGIN CERTIFICATE-----\n", b"-----END CERTIFICATE-----\n", b"-----END X509 CRL-----\n",
               b"-----BEGIN PRIVATE KEY-----\n", b"\n", b"\r\n", b"=", b"MII", b"\x00", b"\x30\x82", b"\xff"]

BASE = {"seed": 24}


def _edits(pieces, max_edits=6):
    """A list of (position fraction, kind, payload) edits, applied in order by ``_apply``."""
    edit = st.tuples(st.floats(min_value=0, max_value=1, allow_nan=False),
                     st.sampled_from(["insert", "delete", "replace"]),
                     st.one_of(st.sampled_from(pieces), st.integers(min_value=1, max_value=40)))
    return st.lists(edit, max_size=max_edits)


def _apply(data, edits):
    for where, kind, payload in edits:
        pos = int(where * len(data))
        if kind == "insert":
            piece = payload if not isinstance(payload, int) else data[pos:pos + payload]
            data = data[:pos] + piece + data[pos:]
        elif kind == "delete":
            size = payload if isinstance(payload, int) else len(payload)
            data = data[:pos] + data[pos + size:]
        else:
            piece = payload if not isinstance(payload, int) else data[:1] * min(payload, 3)
            data = data[:pos] + piece + data[pos + len(piece):]
    return data


# ------------------------------------------------------------------------------------------------------------------
# The configuration reader
# ------------------------------------------------------------------------------------------------------------------

class _ConfigTarget(object):
    def __init__(self, oracle):
        self.oracle = oracle
        self.work = _tempdir("fuzz-config-")
        self.run = cached_runner()
        self.count = 0
        self.accepted = 0
        self.not_compared = 0
        self.lock = threading.Lock()

    def check(self, index, edits):
        variant = generate(BASE["seed"], index)
        variant["files"] = {name: _apply(text, edits) for name, text in variant["files"].items()}
        with self.lock:
            self.count += 1
            directory = os.path.join(self.work, "v{0:05d}".format(self.count))
        # never a traceback: read or refused
        root = MinimalRoot(directory, variant["files"])
        reader = ConfigReader(root.root, modules=("core_module", "so_module", "http_module"))
        try:
            reader.read(root.config_file)
        except StaplingError:
            pass
        if not self.oracle:
            return
        captured = {}

        def gather(*args, **kwargs):
            captured["facts"] = _apache.gather(*args, **kwargs)
            return captured["facts"]
        result = judge(variant, directory + "-oracle", gather, self.run)
        self.accepted += bool(result["accepted"])
        if not result["agree"] and _outside_the_oracle(captured.get("facts")):
            self.not_compared += 1
            return
        assert result["agree"], "{0}\napache said:\n{1}\nedits: {2!r}\nfiles: {3!r}".format(
            result["why"], result["apache"][-600:], edits, variant["files"])


# What Apache takes as a <VirtualHost> address without resolving a name: *, _default_, an IPv4 or [IPv6] literal,
# each with an optional :port or :*.
_APACHE_ADDRESS = re.compile(r"^(\*|_default_|[0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\])(:([0-9]+|\*))?$")


def _outside_the_oracle(facts):
    """Whether a reading holds what the comparison with DUMP_VHOSTS cannot judge: a <VirtualHost> address Apache drops
    because it cannot parse or resolve it ("Could not resolve host name ... -- ignoring!", AH00547; the reader
    reports it), or a server name with white space in it (an unterminated quote runs to the end of the line; Apache
    prints such a name in DUMP_VHOSTS in a form the lab's parser of that listing cannot split)."""
    if not facts:
        return False
    for vhost in facts.get("vhosts") or []:
        if any(not _APACHE_ADDRESS.match(a) for a in vhost.get("addresses") or []):
            return True
        if any(ch in (vhost.get("server_name") or "") for ch in " \t\v\f\r"):
            return True
    return False


# ------------------------------------------------------------------------------------------------------------------
# The certificate reader
# ------------------------------------------------------------------------------------------------------------------

class _PkiMaterial(object):
    _instance = None

    @classmethod
    def get(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        self.pki = PKI.create(_tempdir("fuzz-pki-"), "http://127.0.0.1:1/")
        good = self.pki.certs["good"]
        with open(good.fullchain_path, "rb") as f:
            self.bundle = f.read()
        with open(good.key_path, "rb") as f:
            self.bundle = f.read() + self.bundle
        from cryptography.hazmat.primitives import serialization
        self.der = good.cert.public_bytes(serialization.Encoding.DER)
        self.leaf = good
        self.response = build_response(self.pki, _ocsp.build_request(good.cert, good.issuer.cert), "good")


class _CertificateTarget(object):
    def __init__(self):
        self.count = 0
        self.read = 0

    def check(self, use_der, edits):
        material = _PkiMaterial.get()
        data = _apply(material.der if use_der else material.bundle, edits)
        self.count += 1
        unreadable = []
        try:
            certs = _x509.load_pem_or_der_certificates(data, "fuzz.pem", unreadable=unreadable)
        except StaplingError:
            return
        self.read += 1
        for cert in certs:
            summary = _x509.certificate_summary(cert)
            assert set(summary) >= {"ocsp_uris", "must_staple", "error"}
        for problem in unreadable:
            summary = _x509.fallback_summary(problem.der, problem.reason)
            assert "ocsp_uris" in summary


# ------------------------------------------------------------------------------------------------------------------
# The OCSP validator
# ------------------------------------------------------------------------------------------------------------------

def independently_valid(der, cert, issuer, now):
    """What a second, plain reading says: cryptography parses it, the issuer's key verifies the signature over the
    signed bytes, the single response is our CertID, status good, the window holds."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import ocsp
    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return False
        issuer.public_key().verify(response.signature, response.tbs_response_bytes,
                                   ec.ECDSA(response.signature_hash_algorithm))
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        if (response.serial_number, response.issuer_key_hash, response.issuer_name_hash) != (
                request.serial_number, request.issuer_key_hash, request.issuer_name_hash):
            return False
        next_update = response.next_update_utc
        return (response.certificate_status == ocsp.OCSPCertStatus.GOOD and response.this_update_utc <= now
                and (next_update is None or next_update >= now))
    except Exception:  # noqa: BLE001 -- anything the plain reading cannot take is "not valid" for it
        return False


class _ValidatorTarget(object):
    def __init__(self):
        self.count = 0
        self.valid = 0

    def check(self, edits):
        material = _PkiMaterial.get()
        der = _apply(material.response, edits)
        self.count += 1
        now = datetime.datetime.now(datetime.timezone.utc)
        result = _ocsp.validate_response(der, material.leaf.cert, material.leaf.issuer.cert, now=now, skew=0)
        assert set(result) >= {"valid", "authentic", "errors"}
        if result["valid"]:
            self.valid += 1
            assert independently_valid(der, material.leaf.cert, material.leaf.issuer.cert, now), (
                "valid for edited bytes the plain reading refuses: {0!r}".format(edits))
        else:
            assert result["errors"], result


# ------------------------------------------------------------------------------------------------------------------
# Running a property
# ------------------------------------------------------------------------------------------------------------------

TARGETS = ("config_reader", "config_vs_apache", "certificate_reader", "ocsp_validator")


def run(target, max_examples, seed=24):
    """Run one property with hypothesis; return {"target", "examples", ...counts}. Raises on a counterexample
    (hypothesis shrinks it first and prints it)."""
    common = settings(max_examples=max_examples, deadline=None, database=None, derandomize=False,
                      suppress_health_check=list(HealthCheck), print_blob=True)
    if target in ("config_reader", "config_vs_apache"):
        checker = _ConfigTarget(oracle=target == "config_vs_apache")
        pieces = _edits(CONFIG_PIECES, max_edits=3 if checker.oracle else 8)

        @hypothesis_seed(seed)
        @common
        @given(st.integers(min_value=0, max_value=10 ** 6), pieces)
        def prop(index, edits):
            checker.check(index, edits)
        prop()
        out = {"target": target, "examples": checker.count}
        if checker.oracle:
            out.update(apache_accepted=checker.accepted, not_compared=checker.not_compared)
        return out
    if target == "certificate_reader":
        checker = _CertificateTarget()

        @hypothesis_seed(seed)
        @common
        @given(st.booleans(), _edits(CERT_PIECES, max_edits=8))
        def prop(use_der, edits):
            checker.check(use_der, edits)
        prop()
        return {"target": target, "examples": checker.count, "read": checker.read}
    if target == "ocsp_validator":
        checker = _ValidatorTarget()
        byte_pieces = [bytes([b]) for b in (0, 1, 0x30, 0x80, 0xff)] + [b"\x30\x82", b"\x04\x00"]

        @hypothesis_seed(seed)
        @common
        @given(_edits(byte_pieces, max_edits=4))
        def prop(edits):
            checker.check(edits)
        prop()
        return {"target": target, "examples": checker.count, "valid": checker.valid}
    raise ValueError("unknown target {0!r}; one of {1}".format(target, ", ".join(TARGETS)))
