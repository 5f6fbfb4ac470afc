"""Fleets of real hosts on this machine for the ocsp.stapling tests and benchmarks (see README.md here).

``Fleet(name, index).up(n)`` brings up n hosts (network namespace + overlay of a cached Debian image, bookworm or
trixie, + own mount/PID/UTS/IPC namespaces, tini -> sshd, Apache as its layout starts it: Debian's, or Red Hat's and
SUSE's trees on Debian's binary), an OCSP responder and the hosts' package source on the fleet's bridge and an
inventory; ``Fleet.load(name).down()`` removes all of it.
"""

from .fleet import CERTIFICATES, KINDS, Fleet, FleetError, Host, default_profile

__all__ = ["Fleet", "FleetError", "Host", "CERTIFICATES", "KINDS", "default_profile"]
