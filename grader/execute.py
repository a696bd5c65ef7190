"""Grade one submission in a worker process: the expensive, untrusted part.

For each notebook of a submission this runs nbgrader's own two phases, with nbgrader's own
preprocessors as configured for the course:

1. *sanitize* (``Autograde.sanitize_preprocessors``: ClearOutput, DeduplicateIds,
   OverwriteKernelspec, OverwriteCells, CheckCellMetadata): restore the locked and test cells
   from the gradebook and write the notebook to ``grading/autograded/...``;
2. *run* the preprocessors of ``Autograde.autograde_preprocessors`` that come before the
   first one that writes to the gradebook (Execute, IgnorePattern, ClearMetadata,
   LimitOutput): execute it in a fresh kernel, in that folder.

The rest (SaveAutoGrades, AssignLatePenalties, ...) runs in the parent, which owns the
gradebook (see :mod:`grader.autograde`). Workers read a private snapshot of the gradebook.

Kernel start-up overlaps with work: :meth:`Executor.prepare` sanitizes a submission and
*launches* its kernel, which boots while the worker runs the previous submission.

Everything about running untrusted code lives here, so that it can be hardened in one
place (cell-level timeouts, resource limits, fail-closed tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import inputs, integrity, nbgrader_app
from .preprocessors import GUARD_COST, REPORTS, SANDBOX, RebuildFromRelease
from .records import GRADED, Result, TestOutcome

DB_WRITERS = ("SaveAutoGrades", "AssignLatePenalties")


@dataclass
class Job:
    """One submission to grade, as the parent hands it to a worker."""

    assignment: str
    student: str
    notebooks: list[str]  # notebook ids, in the order nbgrader grades them
    submitted_hash: str = ""
    flags: list[str] = field(default_factory=list)  # found by the parent (missing notebooks...)
    warnings: list[str] = field(default_factory=list)
    created: bool = False  # its submission row is new in the gradebook (this run made it)

    @property
    def key(self) -> tuple[str, str]:
        return (self.assignment, self.student)


@dataclass
class Prepared:
    """A job whose notebooks are sanitized and whose first kernel is booting."""

    job: Job
    started: float
    paths: dict[str, str] = field(default_factory=dict)  # notebook id -> autograded path
    flags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failure: str | None = None
    km: object | None = None  # kernel manager of the first notebook, already launched
    seconds: float = 0.0  # spent preparing (the kernel boots in the background)


def split_preprocessors(classes: list) -> tuple[list, list]:
    """(worker part, parent part) of ``Autograde.autograde_preprocessors``.

    The parent part starts at the first preprocessor that writes to the gradebook.
    ``CheckCellMetadata`` after it only validates the notebook's metadata (which the
    sanitize phase already validated), so it moves to the worker, where its cost is spread
    over the cores."""
    def is_a(cls, names) -> bool:
        return any(base.__name__ in names for base in getattr(cls, "__mro__", [cls]))

    for i, cls in enumerate(classes):
        if is_a(cls, DB_WRITERS):
            rest = list(classes[i:])
            moved = [c for c in rest if is_a(c, ("CheckCellMetadata",))]
            return list(classes[:i]) + moved, [c for c in rest if c not in moved]
    return list(classes), []


def make_exporter(converter, classes: list):
    """A NotebookExporter with these preprocessors, set up as nbgrader's converters do."""
    exporter = converter.exporter_class(parent=converter, config=converter.config)
    for pp in classes:
        exporter.register_preprocessor(pp)
    return exporter


def outcome_message(cell) -> str | None:
    """Why a graded cell lost points, in one line: the error, or what it wrote to stderr."""
    outputs = cell.get("outputs", [])
    errors_first = [o for o in outputs if o.get("output_type") == "error"] + \
        [o for o in outputs if o.get("output_type") != "error"]
    for out in errors_first:
        if out.get("output_type") == "error":
            value = str(out.get("evalue", "")).strip()
            line = f"{out.get('ename', 'Error')}: {value}" if value else str(out.get("ename"))
            return line if len(line) <= 500 else line[:497] + "..."
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = "".join(out.get("text", "")).strip().splitlines()
            first = text[0] if text else ""
            return f"wrote to stderr: {first[:400]}"
    return None


def outcomes(notebook_id: str, nb) -> list[TestOutcome]:
    """Per-test results of an executed notebook, computed with nbgrader's own rule
    (``utils.determine_grade``). Hangs and crashes are reported by GuardedExecute."""
    from nbgrader import utils

    tests = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not utils.is_grade(cell):
            continue
        score, points = utils.determine_grade(cell)
        message = outcome_message(cell) if (score is not None and score < points) else None
        tests.append(TestOutcome(notebook=notebook_id, grade_id=meta["grade_id"],
                                 points=float(points), score=score, message=message))
    return tests


class Executor:
    """Lives in a worker process: nbgrader's converter and exporters, built once."""

    def __init__(self, root: Path, snapshot_url: str, overrides: dict | None = None,
                 kernel_log: Path | None = None, worker: int | None = None):
        from nbclient import NotebookClient
        from nbconvert.writers import FilesWriter

        self.root = Path(root).resolve()
        self.worker = worker
        self.snapshot_url = snapshot_url
        self.nbg = nbgrader_app.load(self.root, overrides)
        self.converter = self.nbg.autograde_converter()
        self.converter.writer = FilesWriter(parent=self.converter, config=self.converter.config)
        sanitize = list(self.converter.sanitize_preprocessors)
        self.rebuilder = None
        if sanitize and isinstance(sanitize[0], type) and issubclass(sanitize[0], RebuildFromRelease):
            # It runs first in any case. Run here, before nbconvert deep-copies and validates
            # the notebook (several times), it shrinks a submission to the release's cells
            # first: 120,000 added cells then cost seconds of CPU, not most of a minute.
            self.rebuilder = make_exporter(self.converter, sanitize[:1])._preprocessors[0]
            sanitize = sanitize[1:]
        self.sanitizer = make_exporter(self.converter, sanitize)
        worker_part, _ = split_preprocessors(self.converter.autograde_preprocessors)
        self.runner = make_exporter(self.converter, worker_part)
        self.max_prepare_seconds = inputs.SubmittedNotebooks(
            config=self.nbg.app.config).max_prepare_seconds
        self.kernel_log = open(kernel_log, "ab") if kernel_log else subprocess.DEVNULL  # noqa: SIM115
        self._live: list = []  # kernel managers to kill if the worker is stopped
        self._current: tuple[int, str | None] | None = None
        self._km = None  # the launched kernel handed to Execute for the current notebook
        self._ready_at = 0.0
        self.execute = next((p for p in self.runner._preprocessors
                             if isinstance(p, NotebookClient)), None)
        if self.execute is not None:
            self._instrument(self.execute)
            # A second, idle instance of the same class and config launches kernels ahead.
            self.launcher = type(self.execute)(parent=self.execute.parent,
                                               config=self.execute.config)
            # nbclient remembers the first notebook's kernel name; nbgrader uses a fresh
            # Execute per notebook, so each notebook must start from the configured name.
            self._kernel_name = self.execute.kernel_name

    # -- kernels ------------------------------------------------------------------------

    def _instrument(self, ex) -> None:
        """Hand our launched kernel to nbgrader's Execute and note the running cell."""
        run_with = type(ex).preprocess
        executor = self

        def preprocess(nb, resources, km=None):
            return run_with(ex, nb, resources, km=executor._km or km)

        def on_notebook_start(**_):
            executor._ready_at = time.time()

        def on_cell_start(cell, cell_index, **_):
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            executor._current = (cell_index, gid)

        ex.preprocess = preprocess
        ex.on_cell_start = on_cell_start
        ex.on_notebook_start = on_notebook_start

    def launch(self, nb, path: str):
        """Start the kernel for ``nb`` in ``path`` now, exactly as nbclient would (same
        kernel, arguments and working directory), without waiting for it to be ready."""
        from jupyter_core.utils import run_sync
        from nbclient import NotebookClient

        if self.execute is None:
            return None
        launcher = self.launcher
        NotebookClient.__init__(launcher, nb)
        launcher.kernel_name = self._kernel_name
        launcher.resources = {"metadata": {"path": path}}
        km = launcher.create_kernel_manager()
        self._live.append(km)
        run_sync(launcher.async_start_new_kernel)(stdout=subprocess.DEVNULL,
                                                  stderr=self.kernel_log)
        return km

    def stop(self, km) -> None:
        """Kill a kernel at once (its notebook is done) and free its resources."""
        from jupyter_core.utils import run_sync

        if km is None:
            return
        try:
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        except BaseException:
            pgid = getattr(getattr(km, "provisioner", None), "pgid", None)
            if pgid:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except OSError:
                    pass
        finally:
            if km in self._live:
                self._live.remove(km)

    def stop_all(self) -> None:
        for km in list(self._live):
            self.stop(km)

    # -- the two phases -----------------------------------------------------------------

    def _resources(self, sanitizing: bool, assignment: str, student: str, notebook: str):
        conv = self.converter
        conv._sanitizing = sanitizing
        folder = conv._format_source(assignment, student)
        resources = conv.init_single_notebook_resources(os.path.join(folder, notebook + ".ipynb"))
        resources["nbgrader"]["db_url"] = self.snapshot_url
        return os.path.join(folder, notebook + ".ipynb"), resources

    def prepare(self, job: Job) -> Prepared:
        """Sanitize every notebook of ``job`` and launch the first one's kernel.

        Everything before the kernel (reading each notebook, nbgrader's sanitize with the
        rebuild from the release, the integrity flags, writing the result) runs under one
        bound of CPU time per submission (``c.SubmittedNotebooks.max_prepare_seconds``):
        past it the submission fails with one line, and the worker goes on."""
        prep = Prepared(job=job, started=time.time(), flags=list(job.flags),
                        warnings=list(job.warnings))
        self.nbg.log.take()
        src = ""
        caught: list = []
        try:
            # Python warnings (nbformat's "Non-unique cell id", one per cell) go to the
            # record, not to the instructor's terminal: a notebook can hold 100,000 of them
            with cpu_time_limit(self.max_prepare_seconds), \
                    warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")
                for notebook in job.notebooks:
                    src, resources = self._resources(True, job.assignment, job.student, notebook)
                    try:
                        submitted = nbformat.read(src, as_version=4)
                    except Exception as exc:
                        prep.failure = unreadable(os.path.relpath(src, self.root), exc)
                        return prep
                    found = integrity.flags(submitted)
                    # read once: what nbconvert's from_filename would do, on that node
                    resources = _file_resources(resources, src)
                    if self.rebuilder is not None:
                        submitted, resources = self.rebuilder(submitted, resources)
                    output, resources = self.sanitizer.from_notebook_node(submitted,
                                                                          resources=resources)
                    found = resources["nbgrader"].get(REPORTS, []) + found
                    prep.flags += [f"{notebook}: {f}" if len(job.notebooks) > 1 else f
                                   for f in found]
                    self.converter.write_single_notebook(output, resources)
                    dest, _ = self._resources(False, job.assignment, job.student, notebook)
                    prep.paths[notebook] = dest
                    if notebook == job.notebooks[0]:
                        first = nbformat.v4.new_notebook(metadata=_metadata(output))
        except OutOfTime:
            prep.failure = (f"{os.path.relpath(src, self.root)} cannot be graded: reading and "
                            f"checking it took more than {self.max_prepare_seconds:g} s of CPU "
                            "time, the limit before its kernel starts "
                            "(c.SubmittedNotebooks.max_prepare_seconds in nbgrader_config.py)")
        except Exception as exc:
            prep.failure = f"nbgrader could not prepare {job.student}/{job.assignment}: {short(exc)}"
            prep.warnings.append(traceback.format_exc(limit=5))
        else:
            try:
                dest = prep.paths[job.notebooks[0]]
                prep.km = self.launch(first, os.path.dirname(dest))
            except Exception as exc:  # Execute will start one itself
                prep.warnings.append(f"could not start the kernel ahead: {short(exc)}")
        finally:
            prep.warnings += self.nbg.log.take()
            prep.warnings += [f"{w.category.__name__}: {w.message}" for w in caught[:5]]
            if len(caught) > 5:
                prep.warnings.append(f"... and {len(caught) - 5} more warnings")
            prep.seconds = time.time() - prep.started
        return prep

    def run(self, prep: Prepared) -> tuple[Result, dict[str, str]]:
        """Execute the prepared notebooks; return the result and each executed notebook
        (JSON text) for the parent to save grades from."""
        job = prep.job
        self._run_started = time.time()
        result = Result(assignment=job.assignment, student=job.student,
                        submitted_hash=job.submitted_hash, notebooks=list(job.notebooks),
                        worker=self.worker, flags=list(prep.flags), warnings=list(prep.warnings))
        outputs: dict[str, str] = {}
        if prep.failure:
            self.stop(prep.km)
            result.failure = prep.failure
            result.failed_before_kernel = True
            return self._finish(result, prep), {}
        for notebook in job.notebooks:
            km, prep.km = prep.km, None
            path = prep.paths[notebook]
            _, resources = self._resources(False, job.assignment, job.student, notebook)
            self._km, self._current = km, None
            if self.execute is not None:
                self.execute.kernel_name = self._kernel_name
            start = self._ready_at = time.time()
            try:
                output, resources = self.runner.from_filename(path, resources=resources)
                result.flags += [f"{notebook}: {f}" if len(job.notebooks) > 1 else f
                                 for f in resources["nbgrader"].get(REPORTS, [])]
                result.sandbox = resources["nbgrader"].get(SANDBOX, result.sandbox)
                if resources["nbgrader"].get(GUARD_COST):
                    result.guard[notebook] = resources["nbgrader"][GUARD_COST]
            except Exception as exc:
                result.failure = self._explain(exc, notebook)
                result.warnings.append(traceback.format_exc(limit=8))
                return self._finish(result, prep), {}
            finally:
                result.execute_seconds += time.time() - start
                result.kernel_wait_seconds += max(self._ready_at - start, 0.0)
                if self.execute is not None and self.execute.kc is not None and km is not None:
                    try:
                        self.execute.kc.stop_channels()
                    except Exception:
                        pass
                    self.execute.kc = None
                self._km = None
                self.stop(km)
                result.warnings += self.nbg.log.take()
            outputs[notebook] = output
            result.tests += outcomes(notebook, nbformat.from_dict(json.loads(output)))
        result.status = GRADED
        return self._finish(result, prep), outputs

    def _finish(self, result: Result, prep: Prepared) -> Result:
        result.seconds = prep.seconds + time.time() - self._run_started
        result.finished = time.time()
        return result

    def _explain(self, exc: Exception, notebook: str) -> str:
        """A one-line reason an instructor understands."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        where = ""
        if self._current is not None:
            index, gid = self._current
            where = f" while running cell {index}" + (f" ('{gid}')" if gid else "")
        if isinstance(exc, DeadKernelError):
            return f"{notebook}: the kernel died{where} (the code crashed or used too much memory)"
        if isinstance(exc, CellTimeoutError):
            return f"{notebook}: a cell{where} did not finish in time and could not be stopped"
        if isinstance(exc, TimeoutError | RuntimeError) and "kernel" in str(exc).lower():
            return f"{notebook}: the kernel did not start or stopped answering{where}: {short(exc)}"
        return f"{notebook}: grading failed{where}: {type(exc).__name__}: {short(exc)}"


class OutOfTime(BaseException):
    """The work before the kernel used up its time. A BaseException, so that the
    ``except Exception`` of the code it interrupts cannot swallow it."""


@contextlib.contextmanager
def cpu_time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`OutOfTime` in the block once it has used ``seconds`` of CPU time. CPU
    time, not wall-clock time: a busy machine slows the work down but does not use up its
    allowance. No bound with ``seconds`` 0.

    In the main thread (the pool's workers) a ``SIGPROF`` timer counts the process's time;
    regular expressions check for signals as they run, so even one that backtracks is
    stopped. In another thread (a Dask worker's task) a watch counts that thread's own time
    and raises the exception in it, between two Python instructions: one call into C (a
    single regular expression) runs to its end first."""
    if not seconds or seconds <= 0:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        with _thread_cpu_time_limit(seconds):
            yield
        return
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise OutOfTime()

    old = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_PROF, 0)
        finally:
            signal.signal(signal.SIGPROF, old)


_WATCH_EVERY = 0.02  # seconds of the clock between two looks at a thread's CPU time


@contextlib.contextmanager
def _thread_cpu_time_limit(seconds: float) -> Iterator[None]:
    """:func:`cpu_time_limit` for a thread other than the main one."""
    import ctypes

    tid = threading.get_ident()
    clock = time.pthread_getcpuclockid(tid)
    begun = time.clock_gettime(clock)
    lock = threading.Lock()
    inside = True
    done = threading.Event()
    raise_in = ctypes.pythonapi.PyThreadState_SetAsyncExc  # (thread, exception or NULL)

    def watch() -> None:
        while not done.wait(_WATCH_EVERY):
            with lock:
                if not inside:
                    return
                try:
                    used = time.clock_gettime(clock) - begun
                except OSError:  # the thread is gone
                    return
                if used >= seconds:  # once: the watch ends here
                    raise_in(ctypes.c_ulong(tid), ctypes.py_object(OutOfTime))
                    return

    watcher = threading.Thread(target=watch, name="cpu-time-limit", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with lock:
            inside = False
        done.set()
        watcher.join()
        raise_in(ctypes.c_ulong(tid), None)  # raised as the block ended, not yet seen: void


def _file_resources(resources: dict, filename: str) -> dict:
    """The resources nbconvert's ``from_filename`` adds for a notebook file."""
    import datetime

    meta = resources.setdefault("metadata", {})
    path, basename = os.path.split(filename)
    meta["name"], meta["path"] = os.path.splitext(basename)[0], path
    modified = datetime.datetime.fromtimestamp(os.path.getmtime(filename), tz=datetime.UTC)
    meta["modified_date"] = modified.strftime("%B %-d, %Y")
    return resources


def _metadata(output: str) -> dict:
    """The metadata of a sanitized notebook (JSON text), all a kernel launch needs, without
    building the whole notebook again."""
    meta = json.loads(output).get("metadata")
    return meta if isinstance(meta, dict) else {}


def unreadable(path: str, exc: Exception) -> str:
    """Why a submitted file is not a notebook we can run, in plain words."""
    from nbformat.reader import NotJSONError

    if isinstance(exc, NotJSONError | json.JSONDecodeError | UnicodeDecodeError):
        why = "it is not valid JSON: the file is damaged, cut short or not a notebook"
    elif isinstance(exc, OSError):
        why = f"it cannot be read ({short(exc)})"
    else:
        why = f"it is not a valid notebook ({short(exc)})"
    return f"{path} cannot be graded: {why}"


def short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
