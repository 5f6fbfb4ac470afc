"""CLI: PYTHONPATH=tests python -m fleet [--name NAME] [--index K] up N | down | status | image | fault ...

  up N                 build the image if needed (cached), bring up N hosts, print the inventory's path
  down                 remove everything the fleet made
  status               JSON; exit 3 when nothing of the fleet runs
  image                build (or find) the cached base image and print its path
  fault HOST kill-apache | link-down | link-up      a fault on one host (the fault tests use these)
  fault responder kill | start                      the fleet's OCSP responder dies / starts again
"""

import argparse
import json
import os
import sys
import time

from . import image
from .fleet import Fleet, FleetError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fleet", description="Real hosts on this machine, reached over SSH")
    parser.add_argument("--name", default=os.environ.get("OCSP_FLEET_NAME", "default"))
    parser.add_argument("--index", type=int, default=None,
                        help="third octet of the fleet's /24 in 172.29.0.0/16 (default 1; up only)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("n", type=int)
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("image")
    fault = sub.add_parser("fault")
    fault.add_argument("target")
    fault.add_argument("action", choices=("kill-apache", "link-down", "link-up", "kill", "start"))
    args = parser.parse_args(argv)
    try:
        if args.command == "image":
            print(image.build(log_stream=sys.stderr))
            return 0
        if args.command == "up":
            started = time.monotonic()
            fleet = Fleet(args.name, args.index or 1).up(args.n, log=sys.stderr)
            print("fleet {0} up: {1} hosts on {2} in {3:.1f}s (hosts {4:.1f}s)".format(
                fleet.name, len(fleet.hosts), fleet.state["subnet"], time.monotonic() - started,
                fleet.state["up_seconds"]))
            print("  OCSP responder  {0}".format(fleet.state["ocsp_url"]))
            print("  inventory       {0}".format(fleet.inventory))
            print("  ansible.cfg     {0}   (ANSIBLE_CONFIG={0})".format(fleet.ansible_cfg))
            for h in fleet.hosts:
                print("  {0}  {1:15} {2}{3}".format(h.name, h.address, " ".join(h.profile["vhosts"]),
                                                    "  firewall " + h.profile["firewall"] if h.profile.get("firewall")
                                                    else ""))
            return 0
        try:
            fleet = Fleet.load(args.name)
        except FleetError as exc:
            if args.command == "status":
                print(json.dumps({"name": args.name, "running": False}))
                return 3
            if args.command == "down":
                print("fleet {0}: nothing to take down".format(args.name))
                return 0
            raise exc
        if args.command == "down":
            fleet.down()
            print("fleet {0} down".format(args.name))
            return 0
        if args.command == "status":
            state = fleet.status()
            print(json.dumps(state, indent=1, sort_keys=True))
            return 0 if state["running"] else 3
        if args.target == "responder":
            if args.action == "kill":
                fleet.kill_responder()
            elif args.action == "start":
                fleet.start_responder()
            else:
                parser.error("responder: kill or start")
            return 0
        host = fleet.host(args.target)
        if args.action == "kill-apache":
            print("killed apache2 pids: {0}".format(host.kill_apache()))
        elif args.action in ("link-down", "link-up"):
            host.link(args.action == "link-up")
        else:
            parser.error("{0}: kill-apache, link-down or link-up".format(args.target))
        return 0
    except FleetError as exc:
        sys.stderr.write("fleet: {0}\n".format(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
