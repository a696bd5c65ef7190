"""Benchmark: how long a huge submission takes from its file to its kernel start (or refusal).

Run from the repository root (a minute or two; not part of ``make test``)::

    python bench/prekernel.py                  # every shape below, about 20 MB each
    python bench/prekernel.py blank_lines      # only some

Each submission is a solved ``01_coroutines`` notebook made huge in one way, just under
the 20 MB limit (``c.SubmittedNotebooks.max_mb``); one is over it. For each, the grader's
own steps run in this process, as a grading run does them: the parent's (fingerprint,
size and JSON checks, nbgrader's set-up in the gradebook), then the worker's
``Executor.prepare`` (reading, the rebuild from the release, nbgrader's sanitize, the
integrity flags, writing the notebook to run) under its CPU-time bound
(``c.SubmittedNotebooks.max_prepare_seconds``), until the kernel is launched. It prints
the wall-clock and CPU seconds of each step and the outcome.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import course, gradebook  # noqa: E402
from grader.autograde import Autograder  # noqa: E402
from grader.execute import Executor, Job  # noqa: E402
from grader.release import release  # noqa: E402

ASSIGNMENT = "01_coroutines"
MB = 1_000_000


def shapes(root: Path) -> dict[str, tuple[str, object]]:
    """name -> (what it is, builder of the notebook's JSON text)."""
    released = nbformat.read(course.release_notebook(ASSIGNMENT, root), as_version=4)
    answers = course.solution_answers(ASSIGNMENT, root)
    solved = course.fill_answers(released, answers)

    def answer_plus(extra: str) -> str:
        return json.dumps(course.fill_answers(released, dict(
            answers, download_all=answers["download_all"] + extra)))

    def added_cells() -> str:
        nb = copy.deepcopy(solved)
        nb.cells += [nbformat.v4.new_code_cell(f"x = {i}\n" + "#" * 40) for i in range(120_000)]
        return json.dumps(nb)

    def giant_output(chars: int) -> str:
        nb = copy.deepcopy(solved)
        code = next(c for c in nb.cells if c.cell_type == "code")
        code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * chars)]
        return json.dumps(nb)

    return {
        "blank_lines": ("9,000,000 blank lines after an answer, as one JSON string (18 MB)",
                        lambda: answer_plus("\n" * 9_000_000)),
        "blank_lines_saved": ("1,700,000 blank lines after an answer, as Jupyter saves them "
                              "(one JSON string a line)",
                              lambda: nbformat.writes(course.fill_answers(released, dict(
                                  answers, download_all=answers["download_all"]
                                  + "\n" * 1_700_000)))),
        "code_lines": ("2,800,000 lines of code (`x = 1`) after an answer",
                       lambda: answer_plus("\nx = 1" * 2_800_000)),
        "added_cells": ("120,000 code cells added by the student", added_cells),
        "giant_output": ("a saved output of 19,000,000 characters", lambda: giant_output(19 * MB)),
        "too_big": ("a saved output of 30,000,000 characters: over the limit",
                    lambda: giant_output(30 * MB)),
    }


def measure(root: Path, names: list[str]) -> None:
    grader = Autograder(root, jobs=1, progress=False)
    gb = gradebook.open_gradebook(grader.nbg.db_url, grader.nbg.course_id)
    snapshot = gradebook.snapshot(grader.nbg.db_url, root / "grading" / "snapshot.db")
    worker = Executor(root, snapshot)
    print(f"bound before the kernel: {worker.max_prepare_seconds:g} s of CPU time\n")
    print(f"{'submission':<20} {'MB':>5}  {'parent s':>8} {'worker s':>8} {'total s':>8} "
          f"{'CPU s':>6}  outcome")
    try:
        for name, (what, build) in shapes(root).items():
            if names and name not in names:
                continue
            folder = root / "grading" / "submitted" / name / ASSIGNMENT
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{ASSIGNMENT}.ipynb"
            path.write_text(build())
            size = path.stat().st_size / MB
            wall, cpu = time.perf_counter(), time.process_time()
            [sub] = grader.discover([ASSIGNMENT], [name])
            job = grader.begin(gb, sub)
            parent = time.perf_counter() - wall
            worker_s = 0.0
            if isinstance(job, Job):
                start = time.perf_counter()
                prep = worker.prepare(job)  # ends when the kernel is launched
                worker_s = time.perf_counter() - start
                worker.stop(prep.km)
                outcome = f"refused: {prep.failure}" if prep.failure else "kernel started"
            else:
                outcome = f"refused: {job.failure}"
            total, used = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{name:<20} {size:>5.1f}  {parent:>8.2f} {worker_s:>8.2f} {total:>8.2f} "
                  f"{used:>6.2f}  {outcome[:110]}")
            print(f"{'':<20} {what}")
            shutil.rmtree(root / "grading" / "submitted" / name)
    finally:
        worker.stop_all()
        gb.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("shapes", nargs="*", help="only these (default: all)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-prekernel-") as tmp:
        root = course.copy_course(Path(tmp) / "course", with_release=False)
        release(root, [ASSIGNMENT])
        measure(root, args.shapes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
