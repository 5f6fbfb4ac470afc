# -*- coding: utf-8 -*-
# Copyright (c) ocsp.stapling contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to ocsp.stapling: what Apache httpd is on this host (binary, versions, modules, OpenSSL, layout).

Commands run through a ``run(argv, env) -> (rc, out, err)`` callable (the module passes
``module.run_command``; tests pass recorded outputs), never a shell.
"""

from __future__ import annotations

import os
import re

from ansible.module_utils.compat.version import LooseVersion

from ansible_collections.ocsp.stapling.plugins.module_utils._apache_config import (
    DEFAULT_STATIC_MODULES, ConfigReader, dump_name, stapling_view,
)
from ansible_collections.ocsp.stapling.plugins.module_utils._apache_instance import ApacheInstance
from ansible_collections.ocsp.stapling.plugins.module_utils._errors import StaplingError

_OPENSSL_LIB = re.compile(rb"OpenSSL (\d+\.\d+\.\d+[a-z]?(?:-[a-z0-9]+)?)\s+\d{1,2} [A-Z][a-z]{2} \d{4}")


def parse_version(text):
    """(version, raw) from ``-v`` output: 'Server version: Apache/2.4.71 (Debian)'."""
    match = re.search(r"Server version:\s*(Apache/(\d+\.\d+\.\d+)\S*(?: \([^)]*\))?)", text)
    if not match:
        raise StaplingError("cannot read the Apache version from: {0!r}".format(text.strip()[:200]))
    return match.group(2), match.group(1)


def parse_compile_settings(text):
    """``-V``: the 'Server MPM' line and -D NAME[="value"] settings."""
    settings = {}
    mpm = None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"Server MPM:\s*(\S+)", line)
        if m:
            mpm = m.group(1).lower()
        m = re.match(r"-D\s+([A-Z0-9_]+)(?:=\"?(.*?)\"?)?$", line)
        if m:
            settings[m.group(1)] = m.group(2) if m.group(2) is not None else True
    return mpm, settings


def parse_modules(text):
    """``-M`` / ``-t -D DUMP_MODULES``: 'ssl_module (shared)' lines."""
    return sorted(set(re.findall(r"^\s*([a-z0-9_]+_module) \((?:static|shared)\)", text, re.M)))


def parse_static_modules(text):
    """The modules built into the binary ('core_module (static)'): loaded before the configuration is read."""
    return sorted(set(re.findall(r"^\s*([a-z0-9_]+_module) \(static\)", text, re.M)))


def parse_dump_vhosts(text):
    """``-t -D DUMP_VHOSTS``: [(address:port, server name, file, line)]."""
    out = []
    current = None
    for line in text.splitlines():
        m = re.match(r"^(\S+:\d+)\s+is a NameVirtualHost", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^\s+(?:default server|port \d+ namevhost)\s+(\S+)\s+\((.+):(\d+)\)", line)
        if m and current:
            out.append({"address": current, "server_name": m.group(1), "file": m.group(2), "line": int(m.group(3))})
            continue
        m = re.match(r"^(\S+:\d+)\s+(\S+)\s+\((.+):(\d+)\)", line)
        if m:
            out.append({"address": m.group(1), "server_name": m.group(2), "file": m.group(3), "line": int(m.group(4))})
    # A name-based port lists its first vhost twice ("default server" and "namevhost").
    seen, unique = set(), []
    for entry in out:
        key = (entry["address"], entry["file"], entry["line"])
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def _cross_check(read, dump, problems):
    """Apache's DUMP_VHOSTS against this reading, by file and line. Apache numbers a <VirtualHost> by the last
    physical line of its header (a header continued over several lines), an editor by the first: a vhost of ours
    matches an entry of Apache's in the same file whose line is within its header. A vhost made by a macro is
    named by Apache after the macro and its Use ("macro 'x' (defined on line N of "F") used on line M of "F"")
    and numbered within the macro's text; ours carries the same name. Returns the number of disagreements."""
    names = {}  # realpath() stats every component: once per file, not once per vhost

    def key(name):
        if name not in names:
            names[name] = dump_name(name)
        return names[name]

    ours = {}
    for index, vhost in enumerate(read):
        name, (first, last) = vhost["_dump"]
        ours.setdefault(key(name), []).append((first, last, index))
    matched = set()
    missing = []
    for entry in dump:
        candidates = ours.get(key(entry["file"]), [])
        hit = [i for first, last, i in candidates if first <= entry["line"] <= last]
        if hit:
            matched.update(hit)
        else:
            missing.append(entry)
    seen = set()
    for entry in missing:
        key = (entry["file"], entry["line"])
        if key in seen:
            continue
        seen.add(key)
        problems.append({"code": "vhost_not_read", "severity": "warning", "file": entry["file"], "line": entry["line"],
                         "msg": "Apache has a vhost at {0}:{1} that this reader did not find".format(*key)})
    extra = [v for i, v in enumerate(read) if i not in matched]
    for vhost in extra:
        problems.append({"code": "vhost_not_in_dump", "severity": "warning", "file": vhost["file"],
                         "line": vhost["line"], "msg": "this reader found a vhost at {0}:{1} that Apache's DUMP_VHOSTS "
                         "does not list".format(vhost["file"], vhost["line"])})
    return len(seen) + len(extra)


def openssl_version_of_library(path):
    """The OpenSSL version string embedded in a libcrypto/libssl file, or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (IOError, OSError):
        return None
    match = _OPENSSL_LIB.search(data)
    return match.group(1).decode("ascii") if match else None


def linked_openssl(run, mod_ssl_path, ldd):
    """(version, library path) of the OpenSSL that mod_ssl.so links, via ldd."""
    if not mod_ssl_path or not ldd or not os.path.exists(mod_ssl_path):
        return None, None
    rc, out, err = run([ldd, mod_ssl_path], None)
    if rc != 0:
        return None, None
    libs = re.findall(r"(libcrypto\.so\S*|libssl\.so\S*) => (\S+)", out)
    for name, path in sorted(libs, key=lambda x: not x[0].startswith("libcrypto")):
        version = openssl_version_of_library(path)
        if version:
            return version, path
    return None, None


def _relative_cache(global_stapling, layout, problems):
    """A how-to's SSLStaplingCache "shmcb:logs/stapling-cache(150000)": mod_socache_shmcb resolves a relative path
    against DefaultRuntimeDir (ap_runtime_dir_relative), not the ServerRoot the how-to assumes, and nothing creates
    that directory. Measured on Debian 12 (APR names the shared memory after the path, shm_open): Apache starts and
    staples all the same; another platform's APR or socache provider that needs the file fails at start (AH00024)."""
    cache = global_stapling.get("SSLStaplingCache")
    if not cache:
        return
    kind, _sep, rest = (cache.get("value") or "").strip('"').partition(":")
    path = re.sub(r"\(\d+\)$", "", rest)
    if kind.lower() != "shmcb" or not path or os.path.isabs(path):
        return
    base = layout.get("run_dir") or layout.get("server_root") or ""
    resolved = os.path.join(base, path)
    if not os.path.isdir(os.path.dirname(resolved)):
        problems.append({"code": "cache_dir_missing", "severity": "warning", "file": cache.get("file"),
                         "line": cache.get("line"),
                         "msg": "SSLStaplingCache {0} names a relative path, which mod_socache_shmcb resolves against "
                                "DefaultRuntimeDir ({1}), not the ServerRoot; {2} does not exist. Apache on Debian "
                                "names the shared memory after the path and runs all the same, elsewhere the cache "
                                "cannot be created (AH00024): give an absolute path in the run directory".format(
                                    cache.get("value"), resolved, os.path.dirname(resolved))})


def detect_layout(server_root, config_file, instance, runtime):
    """Family by markers (envvars + mods-enabled: Debian; conf.modules.d: Red Hat; apache2 + httpd.conf:
    SUSE), where a global snippet goes, and this instance's runtime paths (``ApacheInstance.runtime_layout``)."""
    root = server_root or ""
    if os.path.exists(os.path.join(root, "envvars")) and os.path.isdir(os.path.join(root, "mods-enabled")):
        family = {"family": "debian", "global_snippet_dir": os.path.join(root, "conf-available"),
                  "global_snippet_enable": "a2enconf", "run_dir": "/var/run/apache2", "service": "apache2"}
        name = os.path.basename(os.path.normpath(root))
        if name.startswith("apache2-"):
            family["service"] = name  # Debian's setup-instance: apache2-NAME (apache2@NAME under systemd)
    elif os.path.isdir(os.path.join(root, "conf.modules.d")):
        family = {"family": "redhat", "global_snippet_dir": os.path.join(root, "conf.d"),
                  "global_snippet_enable": None, "run_dir": "/run/httpd", "service": "httpd"}
    elif os.path.basename(os.path.normpath(root)) == "apache2" and os.path.exists(os.path.join(root, "httpd.conf")):
        family = {"family": "suse", "global_snippet_dir": os.path.join(root, "conf.d"),
                  "global_snippet_enable": None, "run_dir": "/var/lib/apache2", "service": "apache2"}
    else:
        family = {"family": "custom", "global_snippet_dir": os.path.dirname(config_file or root),
                  "global_snippet_enable": None, "run_dir": None, "service": None}
    layout = dict(family, server_root=root, config_file=config_file, control=instance.control,
                  server_binary=instance.server, defines=list(instance.defines))
    for key, value in runtime.items():
        if value is not None or key not in layout:
            layout[key] = value
    return layout


def _older(found, minimum):
    try:
        return LooseVersion(found) < LooseVersion(minimum)
    except TypeError:  # e.g. '3.0.0-alpha1' against '0.9.8h': compare the numeric part
        return LooseVersion(re.sub(r"[^0-9.].*$", "", found)) < LooseVersion(re.sub(r"[^0-9.].*$", "", minimum))


def capabilities(version, modules, mod_ssl_openssl):
    v = LooseVersion(version)
    ssl = {"ok": False, "reason": None, "warning": None}
    if v < LooseVersion("2.3.3"):
        ssl["reason"] = "Apache {0} is older than 2.3.3, the first with OCSP stapling".format(version)
    elif "ssl_module" not in modules:
        ssl["reason"] = "mod_ssl (ssl_module) is not loaded; Debian: a2enmod ssl"
    elif mod_ssl_openssl and _older(mod_ssl_openssl, "0.9.8h"):
        ssl["reason"] = "mod_ssl links OpenSSL {0}, older than 0.9.8h".format(mod_ssl_openssl)
    else:
        ssl["ok"] = True
        if v < LooseVersion("2.4.13"):
            ssl["warning"] = "Apache {0} is older than 2.4.13: mod_ssl stapling had known bugs there".format(version)
    md = {"ok": False, "reason": None}
    if v < LooseVersion("2.4.42"):
        md["reason"] = "Apache {0} is older than 2.4.42, the first with MDStapling".format(version)
    elif "md_module" not in modules:
        md["reason"] = "mod_md (md_module) is not loaded; Debian: a2enmod md"
    else:
        md["ok"] = True
    return {"mod_ssl_stapling": ssl, "mod_md_stapling": md}


def warnings_of(facts):
    """The module warnings of apache_info's facts: every problem of severity error (file:line: message) and the
    mod_ssl stapling warning (Apache older than 2.4.13)."""
    out = []
    for problem in facts["problems"]:
        if problem["severity"] == "error":
            out.append("{0}{1}: {2}".format(problem["file"] or "", ":" + str(problem["line"]) if problem["line"] else "",
                                            problem["msg"]))
    warning = facts["capabilities"]["mod_ssl_stapling"].get("warning")
    if warning:
        out.append(warning)
    return out


def gather(run, control, server_root=None, config_file=None, openssl=None, ldd=None, base_env=None, defines=()):
    """Everything apache_info returns. ``control`` is the binary found or given."""
    instance = ApacheInstance(control, server_root=server_root, config_file=config_file, defines=defines,
                              base_env=base_env, run=run)
    return read_instance(instance, openssl=openssl, ldd=ldd)


def read_instance(instance, openssl=None, ldd=None):
    """Everything apache_info returns, for an instance (``_apache_instance.instance_from_module``); resolves it
    (ServerRoot and main configuration file from ``-V`` where they were not given)."""
    run, control, defines = instance.run, instance.control, instance.defines
    created = instance.prepare_runtime()
    env = instance.run_env()
    server = instance.server
    # -V carries the version line too: one process instead of two. It parses the configuration,
    # so it runs on this instance's, with its environment.
    # Apache prints the settings before it reads the configuration: a configuration it refuses still
    # yields them (rc 1), and the configtest below reports the refusal with Apache's own message.
    rc, vout, err = run(instance.server_argv("-V"), env)
    if rc != 0 and "Server version:" not in (vout or ""):
        command = " ".join(instance.server_argv("-V"))
        raise StaplingError("{0} failed (rc={1}): {2}".format(command, rc, (err or vout).strip()[:300]))
    version, version_raw = parse_version(vout)
    mpm, settings = parse_compile_settings(vout)
    instance.resolve(settings)
    server_root, config_file = instance.server_root, instance.config_file
    # Apache's own view in one configtest run: its module list and its vhost dump.
    rc, dout, derr = run(instance.configtest_argv("DUMP_MODULES", "DUMP_VHOSTS"), env)
    problems = []
    static = None
    if rc == 0:
        modules = parse_modules(dout)
        static = parse_static_modules(dout)
        dump = parse_dump_vhosts(dout)
    else:
        modules, dump = [], None
        problems.append({"code": "configtest_failed", "severity": "error", "file": None, "line": None,
                         "msg": "Apache rejects the configuration: {0}".format((derr or dout).strip()[:500])})
    # The reader starts from the built-in modules; LoadModule lines add theirs as Apache reads them.
    reader = ConfigReader(server_root, modules=static or DEFAULT_STATIC_MODULES, version=version, env=env,
                          defines=defines)
    try:
        reader.read(config_file)
    except StaplingError as exc:
        if dump is not None:
            raise
        # Apache refuses this configuration too: its own message (configtest_failed) is the verdict; ours says
        # where this reading stopped. Nothing half-read is reported as a vhost.
        problems.append({"code": "config_unreadable", "severity": "error", "file": None, "line": None,
                         "msg": exc.msg})
        reader.vhosts = []
    if not modules:
        modules = sorted(m for m in reader.modules if m.endswith("_module"))
    global_stapling, vhosts = stapling_view(reader)
    problems.extend(reader.problems)
    mod_ssl_path = next((p for m, p in reader.load_modules if m == "ssl_module"), None)
    ssl_version, ssl_lib = linked_openssl(run, mod_ssl_path, ldd)
    cli_version = cli_raw = None
    if openssl:
        rc, oout, err = run([openssl, "version"], env)
        m = re.search(r"OpenSSL (\S+)", oout or "")
        if rc == 0 and m:
            cli_version, cli_raw = m.group(1), oout.strip()
    cross_check = {"ran": dump is not None, "apache_vhosts": len(dump) if dump is not None else None, "disagreements": 0}
    if dump is not None:
        cross_check["disagreements"] = _cross_check(reader.vhosts, dump, problems)
    module_set = set(modules)
    layout = dict(detect_layout(server_root, config_file, instance, instance.runtime_layout(reader.global_directives,
                                                                                            settings)),
                  created_dirs=created)
    _relative_cache(global_stapling, layout, problems)
    return {
        "apache": {"version": version, "version_raw": version_raw, "mpm": mpm, "binary": control, "server_binary": server,
                   "compile_settings": settings, "modules": modules,
                   "ssl_module": "ssl_module" in module_set, "socache_shmcb_module": "socache_shmcb_module" in module_set,
                   "md_module": "md_module" in module_set, "watchdog_module": "watchdog_module" in module_set},
        "openssl": {"cli_version": cli_version, "cli_version_raw": cli_raw, "mod_ssl_version": ssl_version,
                    "mod_ssl_library": ssl_lib, "mod_ssl_path": mod_ssl_path},
        "capabilities": capabilities(version, module_set, ssl_version),
        "layout": layout,
        "global_stapling": global_stapling,
        "vhosts": vhosts,
        "cross_check": cross_check,
        "problems": problems,
        "files_read": reader.files,
    }
