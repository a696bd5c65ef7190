"""Worker processes that run submissions, one fresh kernel per submission.

Each worker holds at most two submissions: the one it is running and the next one, already
sanitized, whose kernel boots meanwhile. The parent sends a worker its next submission (or
``None``: no more work) as soon as a result comes back, so the worker always knows what
comes next before it starts running a notebook.

Workers are forked from a *forkserver* that has imported nbgrader once, so starting them
costs little, and they never inherit the parent's threads or database connections.
Workers ignore Ctrl-C (the parent decides what happens) and kill their kernels when the
parent stops them. Kernels run in their own session, so Ctrl-C never reaches them.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import traceback
from collections import deque
from pathlib import Path

PRELOAD = [
    "grader._startup",
    "grader.execute",
    "nbgrader.apps.autogradeapp",
    "nbgrader.converters.autograde",
    "nbgrader.preprocessors",
    "nbconvert.exporters",
    "nbclient",
    "jupyter_client",
]
LOOKAHEAD = 2  # submissions held by a worker: the running one and the booting one
NEXT_JOB_WAIT = 1.0  # seconds a worker waits to learn its next job before running

PER_NOTEBOOK = 400 * 1024**2  # memory a notebook being graded takes: kernel, worker, server


def default_jobs() -> int:
    """Notebooks graded at once without ``--jobs``: two per core, as memory allows.

    A notebook of this course spends about half its time waiting (``asyncio.sleep``, the
    demo server's delays), so one per core leaves the cores idle about half of the time
    (``bench/grading.py``, 2 cores, 40 notebooks: one per core graded 2.37x as fast as
    sequential ``nbgrader autograde``, two per core 3.66x, with identical grades)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1
    try:
        with open("/proc/meminfo") as f:
            free = next(int(line.split()[1]) * 1024 for line in f
                        if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        free = None
    jobs = 2 * cores
    return max(1, min(jobs, free // PER_NOTEBOOK) if free is not None else jobs)


def _context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def warm_up() -> None:
    """Start the forkserver now: it imports nbgrader while this process does other work."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


class _Stop(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Stop()


def _receive(inbox, parent: int, timeout: float | None = None):
    """The next job from the parent; ``_Stop`` if the parent is gone."""
    waited = 0.0
    while True:
        step = 2.0 if timeout is None else min(2.0, timeout - waited)
        try:
            return inbox.get(timeout=max(step, 0.01))
        except queue.Empty:
            waited += step
            if os.getppid() != parent:
                raise _Stop() from None
            if timeout is not None and waited >= timeout:
                raise


def worker_main(index: int, generation: int, root: str, snapshot_url: str,
                overrides: dict | None, kernel_log: str | None, inbox, outbox) -> None:
    """Body of a worker process: prepare, run, report; until told to stop."""
    parent = os.getppid()  # the forkserver, which exits when the grading process does
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    os.chdir(root)
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    executor = None
    try:
        from .execute import Executor

        executor = Executor(Path(root), snapshot_url, overrides,
                            Path(kernel_log) if kernel_log else None, worker=index)
        held: deque = deque()
        finished = False
        while True:
            if not held:
                if finished:
                    break
                job = _receive(inbox, parent)
                if job is None:
                    break
                held.append(executor.prepare(job))
            current = held.popleft()
            if not finished and not held:
                try:
                    nxt = _receive(inbox, parent, timeout=NEXT_JOB_WAIT)
                except queue.Empty:
                    nxt = ...  # not known yet: run this one, ask again afterwards
                if nxt is None:
                    finished = True
                elif nxt is not ...:
                    held.append(executor.prepare(nxt))
            result, outputs = executor.run(current)
            outbox.put(("result", index, generation, (result, outputs)))
    except _Stop:
        pass
    except BaseException:
        try:
            outbox.put(("crashed", index, generation, traceback.format_exc()))
        except Exception:
            pass
    finally:
        if executor is not None:
            executor.stop_all()


class Pool:
    """N worker processes and the queues to talk to them."""

    def __init__(self, size: int, root: Path, snapshot_urls: list[str],
                 overrides: dict | None = None, log_dir: Path | None = None):
        self.ctx = _context()
        self.root = Path(root)
        self.snapshots = snapshot_urls
        self.overrides = overrides
        self.log_dir = log_dir
        self.outbox = self.ctx.Queue()
        self.inboxes: list = [None] * size
        self.procs: list = [None] * size
        self.generation: list[int] = [0] * size  # bumped when a worker is replaced
        for i in range(size):
            self.start(i)

    @property
    def size(self) -> int:
        return len(self.procs)

    def start(self, i: int) -> None:
        inbox = self.ctx.Queue()
        self.generation[i] += 1
        log = str(self.log_dir / f"kernels-worker{i}.log") if self.log_dir else None
        proc = self.ctx.Process(
            target=worker_main, name=f"grader-worker-{i}", daemon=True,
            args=(i, self.generation[i], str(self.root), self.snapshots[i % len(self.snapshots)],
                  self.overrides, log, inbox, self.outbox))
        proc.start()
        self.inboxes[i], self.procs[i] = inbox, proc

    def send(self, i: int, job) -> None:
        self.inboxes[i].put(job)

    def receive(self, timeout: float):
        try:
            if timeout <= 0:
                return self.outbox.get_nowait()
            return self.outbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def dead(self) -> list[tuple[int, int | None]]:
        """(worker, exit code) of workers that stopped."""
        return [(i, p.exitcode) for i, p in enumerate(self.procs)
                if p is not None and not p.is_alive()]

    def forget(self, i: int) -> None:
        self.procs[i] = None

    def close(self, timeout: float = 10) -> None:
        """Let workers finish and exit; stop any that do not."""
        for i, p in enumerate(self.procs):
            if p is not None and p.is_alive():
                try:
                    self.inboxes[i].put(None)
                except Exception:
                    pass
        for p in self.procs:
            if p is not None:
                p.join(timeout)
        self.terminate()

    def terminate(self) -> None:
        """Stop every worker now; each kills its kernels on the way out."""
        for p in self.procs:
            if p is not None and p.is_alive():
                p.terminate()
        for p in self.procs:
            if p is not None:
                p.join(5)
                if p.is_alive():
                    p.kill()
                    p.join(5)
        for q in [*self.inboxes, self.outbox]:
            if q is not None:
                q.cancel_join_thread()
                q.close()
