"""Benchmark of grading a class: plain sequential ``nbgrader autograde`` against
``python -m grader autograde``, on the same submissions, in the same run.

Run from the repository root (it takes minutes; it is not part of ``make test``)::

    python bench/grading.py                      # 40 students x every assignment
    python bench/grading.py --students 8 --assignments 01_coroutines 03_gather

It builds a class in a temporary folder from the real course: every assignment is released
with nbgrader, and each student hands in a realistic mix: the solution, one typical wrong
answer (from tests/wrong_answers/), half the exercises done, the untouched notebook, or a
broken one (a syntax error in an answer; one in twenty is not even valid JSON). Then:

1. ``nbgrader autograde ASSIGNMENT`` for each assignment, one after the other (what an
   instructor runs today);
2. ``python -m grader autograde`` on an identical copy, with ``--jobs`` workers;
3. the bare-kernel limit: each graded notebook (outputs cleared) run with nbclient in a
   fresh kernel and nothing else, first one at a time (a sample) and then ``--jobs`` at once;
4. a check that both gradebooks hold exactly the same grades and comments.

It prints seconds per notebook for each, the throughput ratio, how close we come to the
bare-kernel limit, and where our time goes (from the grading records).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader import course, records  # noqa: E402

MIX = ["solved", "solved", "solved", "solved", "wrong", "wrong", "wrong", "partial",
       "untouched", "untouched", "broken", "solved", "wrong", "partial", "solved", "untouched",
       "broken", "wrong", "solved", "invalid_json"]  # 20: 35% right, 25% wrong, ...


def wrong_answers(assignment: str) -> list[tuple[str, str]]:
    path = ROOT / "tests" / "wrong_answers" / f"{assignment}.py"
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location(f"wrong_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(cell, src) for cell, variants in module.WRONG.items() for src in variants.values()]


def build_class(root: Path, assignments: list[str], students: int, seed: int) -> dict:
    """Submissions for every student and assignment; returns {kind: count}."""
    rng = random.Random(seed)
    kinds: dict[str, int] = {}
    for aid in assignments:
        released = nbformat.read(course.release_notebook(aid, root), as_version=4)
        solutions = course.solution_answers(aid, root)
        wrongs = wrong_answers(aid)
        for i in range(students):
            student = f"student{i + 1:03d}"
            kind = MIX[(i + rng.randrange(len(MIX))) % len(MIX)]
            if kind == "wrong" and not wrongs:
                kind = "solved"
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind == "solved":
                nb = course.fill_answers(released, solutions)
            elif kind == "wrong":
                cell, src = rng.choice(wrongs)
                nb = course.fill_answers(released, dict(solutions, **{cell: src}))
            elif kind == "partial":
                ids = sorted(solutions)
                nb = course.fill_answers(released, {k: solutions[k] for k in ids[: len(ids) // 2]})
            elif kind == "broken":
                first = sorted(solutions)[0]
                nb = course.fill_answers(released, dict(solutions, **{first: "def broken(:\n"}))
            else:
                nb = released
            path = course.submit(root, aid, student, nb)
            if kind == "invalid_json":
                path.write_text(path.read_text()[: len(path.read_text()) // 2])
    return kinds


def dump_grades(root: Path) -> dict:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook("sqlite:///" + str(root / "grading" / "gradebook.db")) as gb:
        for a in gb.assignments:
            for sub in gb.assignment_submissions(a.name):
                for nb in sub.notebooks:
                    out[(a.name, sub.student_id, nb.name, "late")] = nb.late_submission_penalty
                    for g in nb.grades:
                        out[(a.name, sub.student_id, g.name)] = (
                            g.auto_score, g.manual_score, g.needs_manual_grade)
                    for c in nb.comments:
                        out[(a.name, sub.student_id, c.name, "comment")] = c.auto_comment
    return out


def run_bare(path: str) -> float:
    """Start a kernel, run the notebook, stop the kernel: nothing of nbgrader."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = time.time()
    NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(path)}}
                   ).execute(stderr=subprocess.DEVNULL)
    return time.time() - start


def bare_one_at_a_time(paths: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds per notebook, kernels run from this process one after the other
    (their CPU, and that of their own children, is counted when they are reaped)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = sum(run_bare(p) for p in paths)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall / max(len(paths), 1), cpu / max(len(paths), 1)


def bare(paths: list[str], jobs: int) -> float:
    start = time.time()
    with ProcessPoolExecutor(jobs) as ex:
        list(ex.map(run_bare, paths))
    return time.time() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=40)
    p.add_argument("--assignments", nargs="*", help="default: every assignment in solutions/")
    p.add_argument("--jobs", type=int, default=os.cpu_count(), help="our workers (default: cores)")
    p.add_argument("--also-jobs", type=int, nargs="*", default=[],
                   help="grade the class again with these numbers of workers, for comparison")
    p.add_argument("--bare-sample", type=int, default=8,
                   help="notebooks run one at a time for the bare-kernel figure")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the temporary class folder")
    args = p.parse_args(argv)

    env = course.nbgrader_env()
    assignments = args.assignments or course.assignments()
    tmp = Path(tempfile.mkdtemp(prefix="grading-bench-"))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    try:
        seq_root = course.copy_course(tmp / "sequential", with_release=False)
        t = time.time()
        released = []
        for aid in assignments:
            try:
                course.release([aid], root=seq_root)
                released.append(aid)
            except RuntimeError as exc:
                print(f"skipping {aid}: release failed: {str(exc).splitlines()[0]}")
        assignments = released
        kinds = build_class(seq_root, assignments, args.students, args.seed)
        ours_root = tmp / "ours"
        shutil.copytree(seq_root, ours_root)
        for jobs in args.also_jobs:
            shutil.copytree(seq_root, tmp / f"ours-j{jobs}")
        n = len(assignments) * args.students
        print(f"class: {args.students} students x {len(assignments)} assignments = {n} notebooks "
              f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); built in "
              f"{time.time() - t:.0f} s in {tmp}")

        t = time.time()
        for aid in assignments:
            proc = course.nbgrader("autograde", aid, root=seq_root, check=False)
            if "Traceback" in proc.stderr and "error processing assignment" not in proc.stderr:
                print(proc.stderr[-2000:])
        seq = time.time() - t
        print(f"sequential nbgrader autograde: {seq:.1f} s, {seq / n:.2f} s per notebook")

        t = time.time()
        proc = subprocess.run([sys.executable, "-m", "grader", "autograde", "--course",
                               str(ours_root), "--jobs", str(args.jobs), "--no-progress",
                               "--timing"], cwd=ROOT, env=env, capture_output=True, text=True)
        ours = time.time() - t
        timing = [line for line in proc.stdout.splitlines() if line.startswith("timing:")]
        print(f"python -m grader autograde -j {args.jobs}: {ours:.1f} s, {ours / n:.2f} s per "
              f"notebook (exit {proc.returncode})")
        others = {}
        for jobs in args.also_jobs:
            root = tmp / f"ours-j{jobs}"
            t = time.time()
            subprocess.run([sys.executable, "-m", "grader", "autograde", "--course", str(root),
                            "--jobs", str(jobs), "--no-progress"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
            others[jobs] = time.time() - t
            same = dump_grades(root) == dump_grades(seq_root)
            print(f"python -m grader autograde -j {jobs}: {others[jobs]:.1f} s, "
                  f"{others[jobs] / n:.2f} s per notebook, grades "
                  f"{'identical' if same else 'DIFFERENT'}")

        paths = sorted(str(p) for p in (ours_root / "grading" / "autograded").glob("*/*/*.ipynb"))
        sample = paths[:: max(1, len(paths) // args.bare_sample)][: args.bare_sample]
        bare_one, cpu_one = bare_one_at_a_time(sample)
        bare_par = bare(paths, args.jobs) / max(len(paths), 1)
        print(f"bare kernel (nbclient only), one at a time: {bare_one:.2f} s per notebook, "
              f"{cpu_one:.2f} s of CPU in the kernel (sample of {len(sample)})")
        print(f"bare kernel, {args.jobs} at once: {bare_par:.2f} s per notebook "
              f"({len(paths)} notebooks that could be run)")

        a, b = dump_grades(seq_root), dump_grades(ours_root)
        diff = [k for k in sorted(set(a) | set(b), key=str) if a.get(k) != b.get(k)]
        recs = records.load_all(ours_root)
        graded = [r for r in recs if r.status == records.GRADED]
        print(f"grades: {len(a)} gradebook entries compared, "
              f"{'IDENTICAL' if not diff else f'{len(diff)} DIFFER'}")
        for k in diff[:20]:
            print(f"  {k}: nbgrader {a.get(k)} / ours {b.get(k)}")

        print("\nsummary")
        print(f"  sequential nbgrader   {seq / n:6.2f} s/notebook")
        print(f"  ours (-j {args.jobs})          {ours / n:6.2f} s/notebook   "
              f"throughput x{seq / ours:.2f}")
        for jobs, seconds in others.items():
            print(f"  ours (-j {jobs})          {seconds / n:6.2f} s/notebook   "
                  f"throughput x{seq / seconds:.2f}")
        print(f"  bare kernel, 1 at once {bare_one:5.2f} s/notebook")
        print(f"  bare kernel, {args.jobs} at once {bare_par:5.2f} s/notebook   "
              f"(ours reaches {100 * bare_par / (ours / n):.0f}% of its throughput)")
        cores = os.cpu_count() or 1
        print(f"  kernel CPU alone      {cpu_one / cores:6.2f} s/notebook   (the floor on "
              f"{cores} cores: {cpu_one:.2f} s of CPU per notebook / {cores})")
        if graded:
            print(f"  per graded notebook in a worker: {statistics.mean(r.seconds for r in graded):.2f} s "
                  f"wall, of which nbgrader Execute {statistics.mean(r.execute_seconds for r in graded):.2f} s "
                  f"(waiting for the kernel {statistics.mean(r.kernel_wait_seconds for r in graded):.2f} s)")
        for line in timing:
            print("  " + line)
        print(f"  load average at end {os.getloadavg()[0]:.2f}")
        return 0 if not diff else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
