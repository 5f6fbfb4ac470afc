"""CLI: python -m lab up|down|status [--state-dir DIR]   (PYTHONPATH=tests)"""

import argparse
import json
import os
import sys

from . import ROLLOUT_VHOSTS, Lab

DEFAULT_STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             ".cache", "lab")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lab", description="The ocsp.stapling lab on this machine")
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--state-dir", default=os.environ.get("OCSP_LAB_DIR", DEFAULT_STATE))
    parser.add_argument("--no-stapling", action="store_true",
                        help="up: no stapling configured (the rollout's starting point), plus a missing-chain vhost")
    args = parser.parse_args(argv)
    lab = Lab(args.state_dir)
    if args.command == "up":
        if args.no_stapling:
            lab.up(vhosts=ROLLOUT_VHOSTS, stapling=False)
        else:
            lab.up()
        state = lab.status()
        print("lab up in {0}".format(args.state_dir))
        print("  openssl ocsp     {0} (pid {1})".format(state["openssl"]["url"], state["openssl"]["pid"]))
        print("  fault responder  {0} (pid {1})".format(state["fault"]["url"], state["fault"]["pid"]))
        apache = state["apache"]
        print("  apache           APACHE_CONFDIR={0} (pid {1})".format(apache["confdir"], apache["pid"]))
        for name, t in sorted(state["apache"]["vhosts"].items()):
            print("    vhost {0:14} https://{1}:{2}/ (SNI {3})".format(name, t["host"], t["port"], t["sni"]))
        return 0
    if args.command == "down":
        lab.down()
        print("lab down")
        return 0
    state = lab.status()
    print(json.dumps(state, indent=1, sort_keys=True))
    return 0 if state["running"] else 3


if __name__ == "__main__":
    sys.exit(main())
