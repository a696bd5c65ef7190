"""Autograde a class in parallel, with nbgrader's gradebook as the record.

The process that runs this module is the only one that writes to the gradebook. For each
submission it

1. *begins* it, with nbgrader's ``Autograde.init_assignment`` (student and submission rows,
   the late timestamp, zero for notebooks not submitted, the course's extra files copied
   next to the notebook) in one transaction;
2. hands it to a worker process (:mod:`grader.pool`), which sanitizes the notebook and runs
   it in its own fresh kernel (:mod:`grader.execute`);
3. *saves* the executed notebook with nbgrader's ``SaveAutoGrades`` and
   ``AssignLatePenalties`` in one transaction, then writes the autograded notebook and a
   record of what happened (:mod:`grader.records`).

Grades are those of ``nbgrader autograde``: the same preprocessors, configuration and
kernel; only the scheduling differs. A submission is skipped when it was graded before and
has not changed since (its record says so), unless ``force``. Ctrl-C stops the workers;
what was saved stays, the rest is graded by the next run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import gradebook, inputs, nbgrader_app, records
from .escape import printable
from .execute import Job, make_exporter, split_preprocessors
from .pool import default_jobs
from .records import FAILED, GRADED, Result

READ_ONLY = ("SaveAutoGrades", "AssignLatePenalties")
INTERRUPTED = "grading did not finish (the run was interrupted); run autograde again"


class SetupError(Exception):
    """The class cannot be graded as asked (unknown assignment, nothing submitted...)."""


@dataclass
class Submission:
    assignment: str
    student: str
    folder: Path  # relative to the course root
    notebooks: list[str]  # the submitted .ipynb files, as nbgrader finds them
    submitted_hash: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.assignment, self.student)

    @property
    def name(self) -> str:
        return f"{self.student}/{self.assignment}"


@dataclass
class Summary:
    graded: list[Result] = field(default_factory=list)
    failed: list[Result] = field(default_factory=list)
    skipped: list[Submission] = field(default_factory=list)
    interrupted: bool = False
    stopped: str = ""  # why the run stopped early, other than Ctrl-C (the cluster went away)
    not_done: int = 0  # submissions left for the next run after an interruption
    seconds: float = 0.0
    parent_seconds: float = 0.0  # spent by this process in gradebook writes
    setup_seconds: float = 0.0  # finding and checking submissions, before any grading
    workers: int = 0

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed else 0

    def timing(self) -> str:
        done = len(self.graded) + len(self.failed)
        per = self.parent_seconds / done if done else 0.0
        return (f"timing: {self.seconds:.1f} s in all: {self.setup_seconds:.1f} s finding "
                f"submissions, {self.seconds - self.setup_seconds:.1f} s grading with "
                f"{self.workers} worker(s); gradebook writes in this process "
                f"{self.parent_seconds:.1f} s ({per:.3f} s per submission)")

    def lines(self) -> list[str]:
        done = self.graded + self.failed
        notebooks = sum(max(len(r.notebooks), 1) for r in done)
        out = []
        if done:
            per = self.seconds / notebooks if notebooks else 0
            out.append(f"Autograded {len(done)} submission(s) in {fmt_seconds(self.seconds)} "
                       f"({per:.2f} s per notebook, {self.workers} worker(s)): "
                       f"{len(self.graded)} graded, {len(self.failed)} failed.")
        if self.skipped:
            out.append(f"Skipped {len(self.skipped)} submission(s) already graded and unchanged "
                       f"(--force grades them again).")
        if not done and not self.skipped:
            out.append("Nothing to grade.")
        if self.interrupted:
            if self.stopped:
                out.append(f"Stopped: {self.stopped}.")
            out.append(f"Interrupted: {self.not_done} submission(s) not graded yet. Grades saved "
                       f"so far are kept; run the same command again to grade the rest.")
        unsandboxed = [r for r in self.graded if r.sandbox and r.sandbox != "sandboxed"]
        if unsandboxed:
            out.append(f"{len(unsandboxed)} submission(s) were graded without the full "
                       f"sandbox: {unsandboxed[0].sandbox}")
        if self.failed:
            out.append("Failed (not graded):")
            out += [f"  {r.student}/{r.assignment}: {r.failure}" for r in self.failed]
        flagged = [r for r in self.graded + self.failed if r.flags]
        if flagged:
            out.append("Flagged for a look:")
            for r in flagged:
                out += [f"  {r.student}/{r.assignment}: {f}" for f in r.flags]
        return [printable(line) for line in out]  # names and flags come from submissions


def fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 90 else f"{int(s // 60)} min {int(s % 60)} s"


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Let a block of writes finish before Ctrl-C takes effect."""
    if sys.platform == "win32" or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    pending = []
    old = signal.signal(signal.SIGINT, lambda *a: pending.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if pending:
            raise KeyboardInterrupt



class Autograder:
    """Grades submissions of a course; see the module docstring."""

    def __init__(self, root: Path, jobs: int | None = None, force: bool = False,
                 overrides: dict | None = None, progress: bool | None = None,
                 out=sys.stderr, cluster=None):
        self.root = Path(root).resolve()
        self.jobs = max(1, jobs or default_jobs())
        self.force = force
        self.cluster = cluster  # a grader.cluster.Target: grade on Dask, not the pool
        self.overrides = overrides
        self.progress = progress
        self.out = out
        self.nbg = nbgrader_app.load(self.root, overrides)
        self.coursedir = self.nbg.coursedir
        self.converter = self.nbg.autograde_converter()
        from nbconvert.writers import FilesWriter

        self.converter.writer = FilesWriter(parent=self.converter, config=self.converter.config)
        _, parent_part = split_preprocessors(self.converter.autograde_preprocessors)
        self.finisher = make_exporter(self.converter, parent_part)
        # nbgrader's SaveAutoGrades and AssignLatePenalties read the notebook, never change it
        self.read_only_finish = all(type(p).__name__ in READ_ONLY
                                    for p in self.finisher._preprocessors)
        self._released: dict[str, list[str]] = {}
        self.parent_seconds = 0.0

    # -- what to grade ------------------------------------------------------------------

    def discover(self, assignments: list[str] | None = None,
                 students: list[str] | None = None) -> list[Submission]:
        """Submissions in grading/submitted/<student>/<assignment>/, in nbgrader's order."""
        cd = self.coursedir
        exclude = set(filter(None, cd.student_id_exclude.split(","))) if cd.student_id_exclude else set()
        found = []
        with nbgrader_app.inside(self.root):
            pattern = cd.format_path(cd.submitted_directory, "*", "*")
            for folder in sorted(glob.glob(pattern)):
                if not os.path.isdir(folder):
                    continue
                student = os.path.basename(os.path.dirname(folder))
                assignment = os.path.basename(folder)
                if assignments and assignment not in assignments:
                    continue
                if (students and student not in students) or student in exclude:
                    continue
                notebooks = sorted(glob.glob(os.path.join(folder, cd.notebook_id + ".ipynb")))
                rel = Path(os.path.relpath(folder, self.root))
                sub = Submission(assignment, student, rel, notebooks)
                sub.submitted_hash = records.submission_hash(self.root / folder, cd.ignore)
                found.append(sub)
        return found

    def wants_sandbox(self) -> bool:
        """Kernels are to run in the course's sandbox (it is configured and not turned off)."""
        from .preprocessors import GuardedExecute, SandboxedKernelManager

        runs = [p for p in self.converter.autograde_preprocessors
                if isinstance(p, type) and issubclass(p, GuardedExecute)]
        return bool(runs) and SandboxedKernelManager(config=self.nbg.app.config).sandbox

    def check_sandbox(self) -> None:
        """Stop before grading anything if kernels are to be sandboxed but cannot be (on a
        cluster, the workers are checked instead: kernels run there)."""
        from .sandbox import probe_cached

        if self.cluster is None and self.wants_sandbox():
            why = probe_cached()
            if why:
                raise SetupError(f"grading kernels cannot be sandboxed on this machine: {why}")

    def known_assignments(self, gb) -> set[str]:
        return {a.name for a in gb.assignments}

    def is_done(self, gb, sub: Submission) -> bool:
        """Graded before and unchanged since (so skipped unless ``force``)."""
        out_dir = self.root / self.nbg.path(self.coursedir.autograded_directory,
                                            sub.student, sub.assignment)
        outputs_exist = all((out_dir / os.path.basename(nb)).exists() for nb in sub.notebooks)
        if not sub.notebooks or not outputs_exist or not self._in_gradebook(gb, sub):
            return False
        rec = records.load(self.root, sub.assignment, sub.student)
        if rec is not None:
            return rec.status == GRADED and rec.submitted_hash == sub.submitted_hash
        # graded by plain nbgrader: its own rule (a newer timestamp.txt means regrade)
        with nbgrader_app.inside(self.root):
            new = self.coursedir.get_existing_timestamp(str(sub.folder))
            old = self.coursedir.get_existing_timestamp(str(out_dir))
        return not (new is not None and old is not None and new > old)

    def released(self, assignment: str) -> list[str]:
        """The notebook ids of the released assignment."""
        if assignment not in self._released:
            folder = self.root / self.coursedir.release_directory / assignment
            self._released[assignment] = sorted(p.stem for p in folder.glob("*.ipynb"))
        return self._released[assignment]

    # -- the parent's share: gradebook writes -------------------------------------------

    def begin(self, gb, sub: Submission) -> Job | Result:
        """nbgrader's set-up of a submission, in one transaction; a Job for a worker, or
        the Result of a submission that cannot be graded."""
        start = time.time()
        try:
            return self._begin(gb, sub)
        finally:
            self.parent_seconds += time.time() - start

    def _begin(self, gb, sub: Submission) -> Job | Result:
        conv = self.converter
        result = Result(assignment=sub.assignment, student=sub.student,
                        submitted_hash=sub.submitted_hash, failure=INTERRUPTED)
        released = self.released(sub.assignment)
        if not sub.notebooks:
            result.failure = inputs.no_notebook(self.root / sub.folder, sub.folder,
                                                [f"{n}.ipynb" for n in released])
            return result
        limit = inputs.max_bytes(self.nbg.app.config)
        for nb in sub.notebooks:  # only those nbgrader will read: the assignment's own
            if not released or os.path.splitext(os.path.basename(nb))[0] in released:
                why = inputs.problem(nb, limit)
                if why:  # fails before nbgrader sees it: no rows in the gradebook
                    result.failure = f"{os.path.relpath(nb, self.root)} cannot be graded: {why}"
                    return result
        dest = self.root / self.nbg.path(self.coursedir.autograded_directory,
                                         sub.student, sub.assignment)
        with nbgrader_app.inside(self.root), deferred_interrupt():
            if dest.exists():
                from nbgrader.utils import rmtree

                rmtree(str(dest))
            records.save(self.root, result)  # "unfinished" until the grades are saved
            created = not self._in_gradebook(gb, sub)
            conv.notebooks = list(sub.notebooks)
            self.nbg.log.take()
            try:
                conv.run_pre_convert_hook()
                error = gradebook.write(gb, lambda: self._init(sub))
                if error is not None:
                    raise error
            except Exception as exc:
                from .execute import short

                names = ", ".join(os.path.basename(n) for n in sub.notebooks)
                if "No notebooks found" in str(exc):
                    wanted = ", ".join(f"{n}.ipynb" for n in released) or "?"
                    result.failure = (f"no notebook with the expected name in {sub.folder}/ "
                                      f"(found {names}; expected {wanted})")
                else:
                    result.failure = f"nbgrader could not set up the submission: {short(exc)}"
                result.warnings = self.nbg.log.take()
                return result
        known = [os.path.splitext(os.path.basename(n))[0] for n in conv.notebooks]
        warnings = self.nbg.log.take()
        flags = [f"{os.path.basename(n)} is not part of the assignment and was not graded"
                 for n in sub.notebooks if os.path.splitext(os.path.basename(n))[0] not in known]
        flags += [f"{n}.ipynb was not submitted; it scores 0" for n in released if n not in known]
        return Job(assignment=sub.assignment, student=sub.student, notebooks=known,
                   submitted_hash=sub.submitted_hash, flags=flags, warnings=warnings,
                   created=created)

    @staticmethod
    def _in_gradebook(gb, sub: Submission) -> bool:
        from nbgrader.api import MissingEntry

        try:
            gb.find_submission(sub.assignment, sub.student)
        except MissingEntry:
            return False
        return True

    def _init(self, sub: Submission):
        """nbgrader's ``init_assignment``; when it gives up (no notebook with a known name)
        the rows it made so far are kept, as plain nbgrader keeps them."""
        from nbgrader.converters.base import NbGraderException

        try:
            self.converter.init_assignment(sub.assignment, sub.student)
        except NbGraderException as exc:
            return exc
        return None

    def save(self, gb, job: Job, result: Result, outputs: dict[str, str]) -> Result:
        """Grades of an executed submission into the gradebook (one transaction), then the
        autograded notebooks and the record."""
        start = time.time()
        try:
            return self._save(gb, job, result, outputs)
        finally:
            self.parent_seconds += time.time() - start

    def _save(self, gb, job: Job, result: Result, outputs: dict[str, str]) -> Result:
        conv = self.converter
        with nbgrader_app.inside(self.root), deferred_interrupt():
            if result.status == GRADED:
                try:
                    written = gradebook.write(gb, lambda: self._finish(job, outputs))
                    for output, resources in written:
                        conv.write_single_notebook(output, resources)
                    conv.set_permissions(job.assignment, job.student)
                    conv.run_post_convert_hook()
                    submission = gb.find_submission(job.assignment, job.student)
                    result.score, result.max_score = submission.score, submission.max_score
                except Exception as exc:
                    from .execute import short

                    result.status = FAILED
                    result.failure = f"saving the grades failed: {type(exc).__name__}: {short(exc)}"
            if result.status != GRADED:
                self._discard_outputs(job)
                if result.failed_before_kernel and job.created:
                    # it failed as it was read and checked, before anything ran: like a file
                    # refused before nbgrader reads it, it leaves no rows in the gradebook
                    gradebook.write(gb, lambda: gb.remove_submission(job.assignment,
                                                                     job.student))
            result.warnings += self.nbg.log.take()
            records.save(self.root, result)
        return result

    def _finish(self, job: Job, outputs: dict[str, str]):
        """Run the gradebook-writing preprocessors on each executed notebook."""
        conv = self.converter
        written = []
        for notebook in job.notebooks:
            conv._sanitizing = False
            folder = conv._format_source(job.assignment, job.student)
            resources = conv.init_single_notebook_resources(
                os.path.join(folder, notebook + ".ipynb"))
            if self.read_only_finish:
                # they only read the notebook: skip the exporter's copy, validation and
                # re-serialisation, and write what the worker produced
                nb = nbformat.v4.nbjson.reads(outputs[notebook])  # no validation
                for pp in self.finisher._preprocessors:
                    nb, resources = pp(nb, resources)
                resources["output_extension"] = self.finisher.file_extension
                written.append((outputs[notebook], resources))
            else:
                nb = nbformat.reads(outputs[notebook], as_version=4)
                written.append(self.finisher.from_notebook_node(nb, resources=resources))
        return written

    def _discard_outputs(self, job: Job) -> None:
        """Like nbgrader after a failure: no half-made autograded notebook is left behind."""
        folder = self.root / self.nbg.path(self.coursedir.autograded_directory,
                                           job.student, job.assignment)
        for notebook in job.notebooks:
            (folder / f"{notebook}.ipynb").unlink(missing_ok=True)

    # -- the run ------------------------------------------------------------------------

    def run(self, assignments: list[str] | None = None,
            students: list[str] | None = None) -> Summary:
        start = time.time()
        summary = Summary()
        subs = self.discover(assignments, students)
        from .late import apply_due_dates  # the due dates of nbgrader_config.py

        apply_due_dates(self.nbg.db_url, self.nbg.course_id, self.nbg.app.config)
        gb = self.gb = gradebook.open_gradebook(self.nbg.db_url, self.nbg.course_id)
        try:
            known = self.known_assignments(gb)
            wanted = set(assignments or {s.assignment for s in subs})
            missing = sorted(wanted - known)
            if missing:
                raise SetupError(
                    f"not in the gradebook: {', '.join(missing)}. Release it first "
                    f"(python -m grader release {' '.join(missing)}).")
            if assignments and not subs:
                raise SetupError(
                    f"no submissions of {', '.join(assignments)} in "
                    f"{self.coursedir.submitted_directory}/<student>/<assignment>/ "
                    f"(python -m grader collect brings them in).")
            todo = []
            if subs:
                self.check_sandbox()
            for sub in subs:
                if not self.force and self.is_done(gb, sub):
                    summary.skipped.append(sub)
                else:
                    todo.append(sub)
            summary.setup_seconds = time.time() - start
            if todo:
                self._grade(gb, todo, summary)
        finally:
            gb.close()
        summary.seconds = time.time() - start
        summary.parent_seconds = self.parent_seconds
        return summary

    def _grade(self, gb, todo: list[Submission], summary: Summary) -> None:
        from nbgrader.api import Gradebook

        # nbgrader's preprocessors open the gradebook under the default course id; make
        # sure that row exists so the snapshots are only ever read.
        with Gradebook(gradebook.with_busy_timeout(self.nbg.db_url)):
            pass
        if self.cluster is not None:
            from .cluster import grade

            return grade(self, gb, todo, summary, self.cluster)
        size = min(self.jobs, len(todo))
        summary.workers = size
        tmp = Path(tempfile.mkdtemp(prefix="grader-"))
        log_dir = self.root / "grading" / "logs"  # what kernels print, from the last run
        log_dir.mkdir(parents=True, exist_ok=True)
        for old in log_dir.glob("kernels-worker*.log"):
            old.unlink()
        snapshots = [gradebook.snapshot(self.nbg.db_url, tmp / f"gradebook-{i}.db")
                     for i in range(size)]
        from .pool import LOOKAHEAD, Pool

        pool = Pool(size, self.root, snapshots, self.overrides, log_dir)
        bar = self._bar(len(todo))
        pending: deque[Submission] = deque(todo)
        ready: deque[Job | Result] = deque()
        held: dict[int, deque[Job]] = {i: deque() for i in range(size)}
        told_done: set[int] = set()

        def record(result: Result) -> None:
            self.record(summary, bar, result)

        def next_job() -> Job | None:
            while ready or pending:
                item = ready.popleft() if ready else self.begin(gb, pending.popleft())
                if isinstance(item, Job):
                    return item
                records.save(self.root, item)
                record(item)
            return None

        def feed(i: int) -> None:
            while i not in told_done and len(held[i]) < LOOKAHEAD:
                job = next_job()
                if job is None:
                    pool.send(i, None)
                    told_done.add(i)
                    return
                pool.send(i, job)
                held[i].append(job)

        def retire_or_restart(i: int) -> None:
            pool.forget(i)
            if ready or pending:
                pool.start(i)
                told_done.discard(i)
                feed(i)
            else:
                told_done.add(i)

        def handle(msg) -> None:
            kind, i, generation, payload = msg
            if generation != pool.generation[i]:
                return  # from a worker already replaced, whose submissions were failed
            if kind == "result":
                result, outputs = payload
                job = held[i].popleft()
                assert job.key == result.key, (job.key, result.key)
                feed(i)  # first, so the worker knows its next submission at once
                record(self.save(gb, job, result, outputs))
            elif kind == "crashed":
                reason = payload.strip().splitlines()[-1]
                self._lost(i, held, f"the grading process failed: {reason}", record)
                pool.procs[i].join(5)
                retire_or_restart(i)

        def check_workers() -> None:
            for i, code in pool.dead():
                while (msg := pool.receive(timeout=0)) is not None:  # what it said last
                    handle(msg)
                if pool.procs[i] is None or pool.procs[i].is_alive():
                    continue  # dealt with by a message, or replaced meanwhile
                self._lost(i, held, "the grading process stopped unexpectedly "
                           f"(exit code {code})", record)
                retire_or_restart(i)

        try:
            for i in range(size):
                feed(i)
            checked = time.time()
            while any(held.values()):
                while len(ready) < size and pending:  # begin ahead, so feeding is instant
                    ready.append(self.begin(gb, pending.popleft()))
                msg = pool.receive(timeout=0.5)
                if msg is not None:
                    handle(msg)
                if msg is None or time.time() - checked > 2:
                    check_workers()
                    checked = time.time()
        except KeyboardInterrupt:
            summary.interrupted = True
            pool.terminate()
            for i in range(size):
                for job in held[i]:
                    self._discard_outputs(job)
            summary.not_done = (sum(len(h) for h in held.values()) + len(pending)
                                + sum(isinstance(j, Job) for j in ready))
        finally:
            pool.close()
            bar.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def _lost(self, i: int, held, reason: str, record) -> None:
        """The worker ``i`` is gone: its submissions fail with ``reason``."""
        while held[i]:
            record(self.fail(held[i].popleft(), reason, i))

    def fail(self, job: Job, reason: str, worker: int | None) -> Result:
        """A begun submission that could not be graded, saved as failed with ``reason``."""
        result = Result(assignment=job.assignment, student=job.student,
                        submitted_hash=job.submitted_hash, notebooks=job.notebooks,
                        worker=worker, failure=reason, flags=job.flags, finished=time.time())
        return self.save(self.gb, job, result, {})

    def record(self, summary: Summary, bar, result: Result) -> None:
        """Count a finished submission in the summary and the progress bar."""
        (summary.graded if result.status == GRADED else summary.failed).append(result)
        if result.status != GRADED and not bar.disable:  # the summary lists them too
            bar.write(printable(f"FAILED {result.student}/{result.assignment}: "
                                f"{result.failure}"), file=self.out)
        bar.update(1)
        bar.set_postfix_str(f"failed {len(summary.failed)}" if summary.failed else "")

    def _bar(self, total: int):
        from tqdm import tqdm

        disable = None if self.progress is None else not self.progress
        return tqdm(total=total, desc="autograde", unit="nb", file=self.out, disable=disable,
                    dynamic_ncols=True, smoothing=0.1)


def autograde(root: Path, assignments: list[str] | None = None,
              students: list[str] | None = None, **kwargs) -> Summary:
    """Grade the submissions of ``assignments`` (default: all submitted) in ``root``."""
    return Autograder(root, **kwargs).run(assignments, students)
