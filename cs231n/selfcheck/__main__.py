"""``python -m cs231n.selfcheck``: run the public checks against your package and print a table."""

import argparse
import sys
import tempfile
from pathlib import Path

from . import CHECKS_DIR, engine, remote

LABELS = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "crash": "CRASH"}


def find_root(start):
    """The folder holding the ``cs231n`` package: ``start`` or one of its parents."""
    for folder in [start, *start.parents]:
        if (folder / "cs231n" / "__init__.py").is_file():
            return folder
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cs231n.selfcheck",
                                     description="Run the public checks of the assignment against your code.")
    parser.add_argument("tree", nargs="?", help="folder holding your cs231n package (default: this package's)")
    parser.add_argument("--part", action="append", metavar="Q", help="only this part (repeatable), e.g. Q1")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per check (default 30)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show messages in full")
    args = parser.parse_args(argv)
    root = find_root(Path(args.tree).resolve()) if args.tree else Path(__file__).resolve().parents[2]
    if root is None:
        print(f"error: no cs231n package in {args.tree} or above", file=sys.stderr)
        return 2
    checks = engine.load_checks(CHECKS_DIR)
    parts = {p.upper() for p in args.part or []}
    known = {k for k, _, _ in checks}
    if parts - known:
        print(f"error: unknown part(s) {', '.join(sorted(parts - known))}; choose from {', '.join(sorted(known))}",
              file=sys.stderr)
        return 2
    checks = [c for c in checks if not parts or c[0] in parts]
    print(f"Checking {root / 'cs231n'} ({len(checks)} public checks)")
    with tempfile.TemporaryDirectory(prefix="cs231n-selfcheck-") as work:
        def start():
            return remote.Session(root, workdir=work).start(timeout=max(args.timeout, 20))

        def show(r):
            print(f"  {r.part}  {LABELS[r.status]:<8}{r.earned:>2}/{r.points:<2} {r.title}", flush=True)
            if r.status != "pass":
                lines = r.message.splitlines()
                if not args.verbose and len(lines) > 6:
                    lines = lines[:3] + ["..."] + lines[-2:]
                for line in lines:
                    print(f"                  {line}")

        results = engine.run_checks(checks, start, args.timeout, on_result=show)
    earned, points = sum(r.earned for r in results), sum(r.points for r in results)
    print(f"\nPublic checks: {earned}/{points} points. The grader also runs hidden checks "
          "(other shapes, edge cases): passing these is a good sign, not a guarantee.")
    return 0 if earned == points else 1


if __name__ == "__main__":
    sys.exit(main())
