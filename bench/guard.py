"""Benchmark: what the hardened grading costs, against nbgrader's own preprocessors.

Run from the repository root (a few minutes; not part of ``make test``)::

    python bench/guard.py                          # 4 students x 01_coroutines, 08_capstone
    python bench/guard.py --students 8 --assignments 03_gather

Two identical copies of a class (every student hands in the solution) are graded with plain
``nbgrader autograde``, one assignment at a time, alternating between the copies so that
both see the same machine:

- *hardened*: the course's ``nbgrader_config.py`` (RebuildFromRelease, GuardedExecute in a
  sandboxed kernel);
- *nbgrader*: the same file with nbgrader's default preprocessor lists put back.

It prints seconds per notebook for each and their ratio, and checks both gave the same
(full) grades.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import course  # noqa: E402
from grader.release import release  # noqa: E402

DEFAULTS = """
# bench/guard.py: nbgrader's own preprocessors, for comparison
from nbgrader.converters.autograde import Autograde as _Autograde
_traits = _Autograde.class_traits()
c.Autograde.sanitize_preprocessors = list(_traits["sanitize_preprocessors"].default())
c.Autograde.autograde_preprocessors = list(_traits["autograde_preprocessors"].default())
"""


def build(root: Path, assignments: list[str], students: int) -> None:
    course.copy_course(root, with_release=False)
    release(root, assignments)
    for aid in assignments:
        released = nbformat.read(course.release_notebook(aid, root), as_version=4)
        solved = course.fill_answers(released, course.solution_answers(aid, root))
        for k in range(students):
            course.submit(root, aid, f"s{k:02d}", solved)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=4)
    p.add_argument("--assignments", nargs="*", default=["01_coroutines", "08_capstone"])
    p.add_argument("--rounds", type=int, default=2, help="gradings of each copy per assignment")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        roots = {"hardened": Path(tmp) / "hardened", "nbgrader": Path(tmp) / "nbgrader"}
        for root in roots.values():
            build(root, args.assignments, args.students)
        with open(roots["nbgrader"] / "nbgrader_config.py", "a") as fh:
            fh.write(DEFAULTS)
        per_notebook: dict[str, dict[str, list[float]]] = {k: {} for k in roots}
        for aid in args.assignments:
            for _ in range(args.rounds):
                for name, root in roots.items():
                    start = time.perf_counter()
                    course.nbgrader("autograde", aid, "--force", root=root)
                    seconds = (time.perf_counter() - start) / args.students
                    per_notebook[name].setdefault(aid, []).append(seconds)
        print(f"{args.students} solved submissions per assignment, {args.rounds} rounds, "
              "seconds per notebook (median; whole nbgrader autograde run / students):")
        print(f"{'assignment':<26}{'nbgrader':>10}{'hardened':>10}{'ratio':>8}")
        for aid in args.assignments:
            base = statistics.median(per_notebook["nbgrader"][aid])
            ours = statistics.median(per_notebook["hardened"][aid])
            print(f"{aid:<26}{base:>10.2f}{ours:>10.2f}{ours / base:>8.2f}")
        for aid in args.assignments:
            scores = {name: course.read_scores(aid, root) for name, root in roots.items()}
            assert scores["hardened"] == scores["nbgrader"], f"{aid}: grades differ"
        print("Both copies gave the same grades.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
