"""CLI: PYTHONPATH=tests python3 -m rootfs [--recipe NAME] build | info | python | run [--bind[-ro] DIR]... -- CMD...

  build     build the recipe's root file system unless cached; print its path
  info      JSON: the cached root's recipe and versions (exit 3 when not built)
  python    the recipe's Python version (major.minor), known without building
  release   the recipe's Debian release ("Debian 13"), known without building
  run       run CMD inside it (built first when missing) in the current directory, every --bind (read-write) and
            --bind-ro (read-only) directory at the same path; exit with CMD's status
"""

import argparse
import json
import os
import sys

from . import RECIPES, RootfsError, build, info, run


def main(argv=None):
    parser = argparse.ArgumentParser(prog="rootfs", description="Debian root file systems for the controller lanes")
    parser.add_argument("--recipe", default="trixie", choices=sorted(RECIPES))
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--force", action="store_true")
    sub.add_parser("info")
    sub.add_parser("python")
    sub.add_parser("release")
    r = sub.add_parser("run")
    r.add_argument("--bind", action="append", default=[], help="a directory seen at the same path inside")
    r.add_argument("--bind-ro", action="append", default=[], help="the same, read-only")
    r.add_argument("--cwd", default=None)
    r.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(build(args.recipe, force=args.force, log_stream=sys.stderr))
            return 0
        if args.command == "info":
            found = info(args.recipe)
            print(json.dumps(found or {"recipe": args.recipe, "built": False}, indent=1))
            return 0 if found else 3
        if args.command == "python":
            print(RECIPES[args.recipe]["python"])
            return 0
        if args.command == "release":
            print(RECIPES[args.recipe]["release"])
            return 0
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not argv:
            parser.error("run: no command given")
        return run(argv, name=args.recipe, binds=args.bind, ro_binds=args.bind_ro, cwd=args.cwd or os.getcwd(),
                   log_stream=sys.stderr)
    except RootfsError as exc:
        sys.stderr.write("rootfs: {0}\n".format(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
