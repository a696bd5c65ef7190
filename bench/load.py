"""Do grades depend on how busy the machine is? Grade the same class quietly and under load.

Run from the repository root (it takes a while; it is not part of ``make test``)::

    python bench/load.py                       # every assignment, 3 repetitions
    python bench/load.py --assignments 07_choosing_concurrency --repeat 1

The class is, for every assignment: the solved notebook, the untouched one, and one
submission per round of typical wrong answers (``tests/wrong_answers/``; round k holds the
k-th wrong answer of every exercise, as the release gate grades them). Each repetition
grades it twice with ``python -m grader autograde`` on fresh copies:

1. *quiet*: ``--jobs 1``, nothing else running;
2. *loaded*: ``--jobs 8`` beside two processes that spin on a CPU each (on a 2-core machine
   that is 10 busy processes for 2 cores).

Every grade (each test cell of each submission) must be identical in all runs; the script
prints each difference, the figures of each run, and exits 1 if any grade moved.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import wrong_answers, wrong_rounds  # noqa: E402

from grader import course, records  # noqa: E402

HOG = "while True: pass"


def build(root: Path, assignments: list[str]) -> int:
    """The class in ``root``; returns how many notebooks it holds."""
    count = 0
    for aid in assignments:
        nb = nbformat.read(course.release_notebook(aid, root), as_version=4)
        solutions = course.solution_answers(aid, root)
        course.submit(root, aid, "solved", course.fill_answers(nb, solutions))
        course.submit(root, aid, "untouched", nb)
        count += 2
        wrong = wrong_answers(aid)
        for k, chosen in enumerate(wrong_rounds(aid), start=1):
            answers = dict(solutions, **{cell: wrong[cell][name] for cell, name in chosen.items()})
            course.submit(root, aid, f"wrong_round_{k}", course.fill_answers(nb, answers))
            count += 1
    return count


def grades(root: Path, assignments: list[str]) -> dict[tuple[str, str, str], float | None]:
    out = {}
    for aid in assignments:
        for path in sorted((root / records.RECORDS / aid).glob("*.json")):
            rec = records.load(root, aid, path.stem)
            if rec.failure:
                out[(aid, rec.student, "(failure)")] = rec.failure
            for t in rec.tests:
                out[(aid, rec.student, t.grade_id)] = t.score
    return out


def grade(template: Path, assignments: list[str], jobs: int, hogs: int) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        root = Path(tmp) / "course"  # the released class with its gradebook, afresh
        shutil.copytree(template, root)
        spinning = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(hogs)]
        try:
            start = time.time()
            done = subprocess.run([sys.executable, "-m", "grader", "autograde", "--course",
                                   str(root), "--jobs", str(jobs), "--no-progress", "--force",
                                   *assignments], capture_output=True, text=True)
            seconds = time.time() - start
        finally:
            for p in spinning:
                p.kill()
                p.wait()
        if done.returncode not in (0, 1):
            raise SystemExit(f"autograde could not run:\n{done.stdout}\n{done.stderr}")
        return grades(root, assignments), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignments", nargs="*", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loaded-jobs", type=int, default=8)
    parser.add_argument("--hogs", type=int, default=2)
    args = parser.parse_args(argv)
    assignments = args.assignments or course.assignments()
    with tempfile.TemporaryDirectory(prefix="bench-load-class-") as tmp:
        template = course.copy_course(Path(tmp) / "course", with_release=False)
        course.release(assignments, root=template)
        notebooks = build(template, assignments)
        print(f"{notebooks} notebooks of {len(assignments)} assignment(s): solved, untouched "
              f"and every round of wrong answers")
        reference = None
        moved = 0
        for rep in range(1, args.repeat + 1):
            for label, jobs, hogs in (("quiet", 1, 0),
                                      ("loaded", args.loaded_jobs, args.hogs)):
                got, seconds = grade(template, assignments, jobs, hogs)
                print(f"repetition {rep}, {label} (--jobs {jobs}, {hogs} CPU hogs): "
                      f"{seconds:.0f} s, {seconds / notebooks:.2f} s per notebook, "
                      f"{len(got)} grades", flush=True)
                if reference is None:
                    reference = got
                    continue
                for key in sorted(set(reference) | set(got)):
                    if reference.get(key) != got.get(key):
                        moved += 1
                        print(f"  MOVED {'/'.join(key)}: {reference.get(key)!r} -> "
                              f"{got.get(key)!r}")
        total = len(reference or {})
        runs = 2 * args.repeat
        print(f"{total} grades x {runs} runs: {moved} moved" + (" (all identical)" if not moved
                                                                 else ""))
        return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
