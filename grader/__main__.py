"""Instructor commands: ``python -m grader COMMAND`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys

from . import course


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="regenerate notebooks/ from solutions/ with nbgrader")
    rel.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    args = parser.parse_args(argv)

    if args.command == "release":
        try:
            paths = course.release(args.assignments or None)
        except (ValueError, RuntimeError) as exc:
            print(f"release failed: {exc}", file=sys.stderr)
            return 1
        for p in paths:
            print(f"released {p.relative_to(course.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
