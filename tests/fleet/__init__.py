"""Fleets of real hosts on this machine for the ocsp.stapling tests and benchmarks (see README.md here).

``Fleet(name, index).up(n)`` brings up n hosts (network namespace + overlay of a cached Debian bookworm image +
own mount/PID/UTS/IPC namespaces, tini -> sshd, Apache from Debian's init script), an OCSP responder on the
fleet's bridge and an inventory; ``Fleet.load(name).down()`` removes all of it.
"""

from .fleet import CERTIFICATES, Fleet, FleetError, Host, default_profile

__all__ = ["Fleet", "FleetError", "Host", "CERTIFICATES", "default_profile"]
