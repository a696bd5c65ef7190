"""Benchmark of grading a class: plain sequential ``nbgrader autograde`` against
``python -m grader autograde``, on the same submissions, in the same run.

Run from the repository root (it takes minutes; it is not part of ``make test``)::

    python bench/grading.py                      # 40 students x every assignment
    python bench/grading.py --students 8 --assignments 01_coroutines 03_gather
    python bench/grading.py --students 8 --assignments 01_coroutines --dask

``--dask`` (that is, ``--routes pool,local,scheduler``) compares instead the course's pool
with the two Dask routes (grader/cluster.py): a LocalCluster of ``--jobs`` worker processes
(``--cluster local``), and a ``dask scheduler`` plus ``dask worker --nworkers JOBS
--nthreads 1`` started beforehand as separate processes (``--scheduler ADDRESS``). It
prints each route's overhead per notebook against the pool's, and the arithmetic for
4,000 notebooks on 1, 10 and 50 machines like this one.

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

Each route grades an identical copy of the class. It prints seconds per notebook for each, the throughput ratio, how close we come to the
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
sys.path.insert(1, str(ROOT / "tests"))  # the dask programs, started as the tests start them

from grader import course, records  # noqa: E402
from grader.pool import default_jobs  # noqa: E402

ROUTES = ("nbgrader", "pool", "local", "scheduler")
DASK_ROUTES = ["pool", "local", "scheduler"]
SCHOOL = 4000  # notebooks: 500 students x 8 assignments

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


def routes_arg(text: str) -> list[str]:
    routes = [r.strip() for r in text.split(",") if r.strip()]
    wrong = [r for r in routes if r not in ROUTES]
    if wrong or not routes:
        raise argparse.ArgumentTypeError(f"routes are among {', '.join(ROUTES)}; "
                                         f"not {', '.join(wrong) or 'none'}")
    return list(dict.fromkeys(routes))


STARTED: dict[Path, float] = {}  # when grade_ours started the command on each class


def grade_ours(root: Path, env: dict, *flags: str) -> tuple[float, subprocess.CompletedProcess]:
    """``python -m grader autograde`` on the class in ``root``: (seconds, the process)."""
    t = STARTED[root] = time.time()
    proc = subprocess.run([sys.executable, "-m", "grader", "autograde", "--course", str(root),
                           "--no-progress", "--timing", *flags], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    return time.time() - t, proc


def grading_span(root: Path) -> tuple[float, float] | None:
    """(start-up, grading) seconds of the last run on ``root``: from the command's start to
    the first kernel's start, and from there to the last grade, read from the records."""
    graded = [r for r in records.load_all(root) if r.status == records.GRADED]
    started = STARTED.get(root)
    if not graded or started is None:
        return None
    first = min(r.finished - r.seconds for r in graded)
    return first - started, max(r.finished for r in graded) - first


def timing_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.startswith("timing:")]


def parent_write_seconds(proc: subprocess.CompletedProcess) -> float | None:
    """The gradebook writes per submission in the grading process (the one writer)."""
    for line in timing_lines(proc):
        if "s per submission)" in line:
            return float(line.rsplit("(", 1)[1].split()[0])
    return None


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=40)
    p.add_argument("--assignments", nargs="*", help="default: every assignment in solutions/")
    p.add_argument("--jobs", type=int, default=default_jobs(),
                   help="our workers (default: the grader's own default, "
                   f"{default_jobs()} here)")
    p.add_argument("--also-jobs", type=int, nargs="*", default=[],
                   help="grade the class again with these numbers of workers, for comparison")
    p.add_argument("--bare-sample", type=int, default=8,
                   help="notebooks run one at a time for the bare-kernel figure")
    p.add_argument("--routes", type=routes_arg, default=["nbgrader", "pool"],
                   help="what grades the class, each on a copy of it, comma-separated: "
                   "nbgrader (sequential nbgrader autograde, and the bare-kernel limit), "
                   "pool (python -m grader autograde --jobs JOBS), local (--cluster local "
                   "--jobs JOBS), scheduler (--scheduler ADDRESS of a dask scheduler and "
                   "dask worker --nworkers JOBS --nthreads 1 started as separate processes). "
                   "Default: nbgrader,pool")
    p.add_argument("--dask", dest="routes", action="store_const", const=DASK_ROUTES,
                   help="the same as --routes " + ",".join(DASK_ROUTES))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the temporary class folder")
    args = p.parse_args(argv)

    env = course.nbgrader_env()
    routes = args.routes
    assignments = args.assignments or course.assignments()
    tmp = Path(tempfile.mkdtemp(prefix="grading-bench-"))
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.2f} at start")
    try:
        class_root = course.copy_course(tmp / "class", with_release=False)
        t = time.time()
        released = []
        for aid in assignments:
            try:
                course.release([aid], root=class_root)
                released.append(aid)
            except RuntimeError as exc:
                print(f"skipping {aid}: release failed: {str(exc).splitlines()[0]}")
        assignments = released
        kinds = build_class(class_root, assignments, args.students, args.seed)
        roots = {name: Path(shutil.copytree(class_root, tmp / name))  # identical copies
                 for name in routes + [f"ours-j{jobs}" for jobs in args.also_jobs]}
        n = len(assignments) * args.students
        print(f"class: {args.students} students x {len(assignments)} assignments = {n} notebooks "
              f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); built in "
              f"{time.time() - t:.0f} s in {tmp}; graded by {', '.join(routes)}")

        seconds: dict[str, float] = {}
        procs: dict[str, subprocess.CompletedProcess] = {}
        labels = {"pool": f"python -m grader autograde -j {args.jobs}",
                  "local": f"python -m grader autograde --cluster local --jobs {args.jobs}",
                  "scheduler": f"python -m grader autograde --scheduler (dask scheduler + "
                               f"dask worker --nworkers {args.jobs} --nthreads 1)"}
        flags = {"pool": ["--jobs", str(args.jobs)],
                 "local": ["--cluster", "local", "--jobs", str(args.jobs)]}
        for route in routes:
            if route == "nbgrader":
                t = time.time()
                for aid in assignments:
                    proc = course.nbgrader("autograde", aid, root=roots["nbgrader"], check=False)
                    if "Traceback" in proc.stderr and "error processing assignment" not in proc.stderr:
                        print(proc.stderr[-2000:])
                seconds[route] = time.time() - t
                print(f"sequential nbgrader autograde: {seconds[route]:.1f} s, "
                      f"{seconds[route] / n:.2f} s per notebook")
                continue
            if route == "scheduler":  # already running when the clock starts
                from dask_processes import dask_processes

                t = time.time()
                with dask_processes(tmp / "dask", workers=args.jobs) as cluster:
                    cluster.wait_ready()
                    print(f"dask scheduler and {args.jobs} dask worker processes ready in "
                          f"{time.time() - t:.1f} s (not counted)")
                    seconds[route], procs[route] = grade_ours(
                        roots[route], env, "--scheduler", cluster.address)
            else:
                seconds[route], procs[route] = grade_ours(roots[route], env, *flags[route])
            proc = procs[route]
            print(f"{labels[route]}: {seconds[route]:.1f} s, {seconds[route] / n:.2f} s per "
                  f"notebook (exit {proc.returncode})")
            if proc.returncode not in (0, 1):  # 1: some submissions failed, as they should
                print(proc.stdout[-2000:] + proc.stderr[-2000:])
        others = {}
        for jobs in args.also_jobs:
            root = roots[f"ours-j{jobs}"]
            others[jobs], _ = grade_ours(root, env, "--jobs", str(jobs))
            same = dump_grades(root) == dump_grades(roots[routes[0]])
            print(f"python -m grader autograde -j {jobs}: {others[jobs]:.1f} s, "
                  f"{others[jobs] / n:.2f} s per notebook, grades "
                  f"{'identical' if same else 'DIFFERENT'}")

        ours = [r for r in routes if r != "nbgrader"]
        if "nbgrader" in routes:
            graded_root = roots[ours[0]] if ours else roots["nbgrader"]
            paths = sorted(str(p) for p in (graded_root / "grading" / "autograded").glob("*/*/*.ipynb"))
            sample = paths[:: max(1, len(paths) // args.bare_sample)][: args.bare_sample]
            bare_one, cpu_one = bare_one_at_a_time(sample)
            bare_par = bare(paths, args.jobs) / max(len(paths), 1)
            print(f"bare kernel (nbclient only), one at a time: {bare_one:.2f} s per notebook, "
                  f"{cpu_one:.2f} s of CPU in the kernel (sample of {len(sample)})")
            print(f"bare kernel, {args.jobs} at once: {bare_par:.2f} s per notebook "
                  f"({len(paths)} notebooks that could be run)")

        ref = routes[0]
        a = dump_grades(roots[ref])
        differ = False
        for route in routes[1:]:
            b = dump_grades(roots[route])
            diff = [k for k in sorted(set(a) | set(b), key=str) if a.get(k) != b.get(k)]
            differ = differ or bool(diff) or not a
            print(f"grades: {len(a)} gradebook entries of {ref} compared with {route}: "
                  f"{'IDENTICAL' if not diff else f'{len(diff)} DIFFER'}")
            for k in diff[:20]:
                print(f"  {k}: {ref} {a.get(k)} / {route} {b.get(k)}")

        print("\nsummary")
        seq = seconds.get("nbgrader")
        pool = seconds.get("pool")
        if seq:
            print(f"  sequential nbgrader   {seq / n:6.2f} s/notebook")
        if pool:
            print(f"  ours (-j {args.jobs})          {pool / n:6.2f} s/notebook   "
                  + (f"throughput x{seq / pool:.2f}" if seq else "(the course's pool)"))
        for jobs, took in others.items():
            print(f"  ours (-j {jobs})          {took / n:6.2f} s/notebook"
                  + (f"   throughput x{seq / took:.2f}" if seq else ""))
        for route, name in (("local", "LocalCluster"), ("scheduler", "running scheduler")):
            if route in seconds:
                line = f"  {name:<21} {seconds[route] / n:6.2f} s/notebook"
                if pool:
                    ratio = seconds[route] / pool
                    line += (f"   overhead against the pool x{ratio:.2f} "
                             f"({100 * (ratio - 1):+.0f}% per notebook)")
                print(line)
        spans = {r: grading_span(roots[r]) for r in routes if r != "nbgrader"}
        if "pool" in spans and len(spans) > 1 and all(spans.values()):
            print("  once grading has started (first kernel start to last grade, from the "
                  "records; what a run's start-up adds is left out):")
            for route, (start_up, span) in spans.items():
                line = (f"    {route:<9} {span / n:6.2f} s/notebook, after {start_up:.1f} s "
                        "of start-up")
                if route != "pool":
                    ratio = span / spans["pool"][1]
                    line += f"   x{ratio:.2f} the pool's ({100 * (ratio - 1):+.0f}%)"
                print(line)
        if "nbgrader" in routes:
            print(f"  bare kernel, 1 at once {bare_one:5.2f} s/notebook")
            if ours:
                per = seconds[ours[0]] / n
                print(f"  bare kernel, {args.jobs} at once {bare_par:5.2f} s/notebook   "
                      f"(ours reaches {100 * bare_par / per:.0f}% of its throughput)")
            print(f"  kernel CPU alone      {cpu_one / cores:6.2f} s/notebook   (the floor on "
                  f"{cores} cores: {cpu_one:.2f} s of CPU per notebook / {cores})")
        if ours:
            recs = records.load_all(roots[ours[0]])
            graded = [r for r in recs if r.status == records.GRADED]
            if graded:
                print(f"  per graded notebook in a worker ({ours[0]}): "
                      f"{statistics.mean(r.seconds for r in graded):.2f} s wall, of which "
                      f"nbgrader Execute {statistics.mean(r.execute_seconds for r in graded):.2f} s "
                      f"(waiting for the kernel "
                      f"{statistics.mean(r.kernel_wait_seconds for r in graded):.2f} s)")
        for route in ours:
            for line in timing_lines(procs[route]):
                print(f"  {route}: {line}")
        if ours:
            print(f"\n{SCHOOL:,} notebooks (500 students x 8), from the measured time per "
                  f"notebook, each machine like this one ({cores} cores, {args.jobs} workers):")
            for route in ours:
                per = seconds[route] / n
                machines = (1, 10, 50) if route == "scheduler" else (1,)
                print(f"  {route:<9} " + "; ".join(
                    f"{m} machine{'s' if m > 1 else ''}: {SCHOOL:,} x {per:.2f} s / {m} = "
                    f"{duration(SCHOOL * per / m)}" for m in machines))
            writes = [w for w in map(parent_write_seconds, procs.values()) if w is not None]
            if writes:
                w = max(writes)
                print(f"  whatever the number of machines, the one gradebook writer needs "
                      f"{w:.3f} s per submission: {SCHOOL:,} x {w:.3f} s = "
                      f"{duration(SCHOOL * w)} at least")
        print(f"  load average at end {os.getloadavg()[0]:.2f}")
        failed = [r for r in ours if procs[r].returncode not in (0, 1)]
        return 0 if not differ and not failed else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
