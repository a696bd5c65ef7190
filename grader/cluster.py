"""Autograde on a Dask distributed cluster: many machines, the same grades.

``python -m grader autograde --scheduler tcp://host:8786`` sends the submissions to the
workers of a running Dask scheduler (started by hand, by dask-jobqueue or dask-kubernetes);
``--cluster local --jobs N`` starts a ``distributed.LocalCluster`` of N worker processes on
this machine. Nothing here is imported otherwise: the course's own pool stays the default.

What stays the same as with the pool (:mod:`grader.autograde`):

* this process is the only gradebook writer: it *begins* a submission and *saves* its
  grades; a worker only sanitizes and runs notebooks, with :class:`grader.execute.Executor`;
* each worker has two submissions at most, the one it runs and the next one, whose kernel
  boots meanwhile: every task carries the submission to run and the one that comes next.
  Tasks are given to one worker each (no stealing), one at a time;
* progress bar, resume, ``--force``, Ctrl-C and the records.

No shared file system is needed: the course files a worker needs (``nbgrader_config.py``,
the released notebooks, a snapshot of the gradebook) travel once per run, as bytes held by
the scheduler; each submission travels with its task, as a tar archive of its submitted
folder and of the folder nbgrader's set-up made for it. A worker works in a temporary
folder of its own.

Faults: a worker that dies while it grades a submission (killed, out of memory) costs that
submission one more try on another worker; if that one dies too, the submission is
reported as lost and the rest of the class is graded. A scheduler that goes away stops the
run: what was saved stays, and the next run grades the rest. Workers or a scheduler whose
versions differ from this process's (Python, Dask, nbgrader, the kernel, the course's
grading code) are refused before anything is graded.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import io
import logging
import os
import platform
import shutil
import tarfile
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from distributed import WorkerPlugin

from . import records
from .escape import printable
from .execute import Executor, Job, Prepared

PLUGIN = "asyncio-course-grader"
TRIES = 2  # a submission whose worker dies is graded once more elsewhere, then reported
CONNECT_SECONDS = 30  # to reach the scheduler
WORKER_WAIT = 60  # for a first worker, and for one to come back when all have gone
SCHEDULER_GONE = 15  # seconds without the scheduler before the run stops
POLL = 0.5
# What a worker must share with this process for the grades to be the same.
PACKAGES = ("dask", "distributed", "cloudpickle", "msgpack", "tornado", "nbgrader", "nbclient",
            "nbconvert", "nbformat", "jupyter_client", "ipykernel", "looptime")
SCHEDULER_PACKAGES = ("dask", "distributed", "cloudpickle", "msgpack", "tornado")
# A worker unpacks each submission with tarfile's "data" filter (nothing outside its folder,
# no devices or links out): Python 3.11.4 and newer; 3.11.0-3.11.3 would fail every one.
SAFE_UNPACK = "tarfile's data filter (Python 3.11.4 or newer)"


@dataclass
class Target:
    """Where to grade: an existing scheduler's address, or a LocalCluster of N workers."""

    scheduler: str | None = None
    local_workers: int | None = None

    def describe(self) -> str:
        if self.scheduler:
            return f"the Dask scheduler at {self.scheduler}"
        return f"a local Dask cluster of {self.local_workers} worker process(es)"


@dataclass
class Bundle:
    """The course files every worker needs for one run, sent once per worker."""

    token: str
    data: bytes  # tar.gz: nbgrader_config.py, released notebooks, grading/snapshot.db
    overrides: dict | None = None


@dataclass
class Task:
    """A submission and the folders it travels with."""

    job: Job
    data: bytes  # tar.gz of its submitted folder and the folder nbgrader's set-up made
    folders: list[str] = field(default_factory=list)  # relative to the course root
    tries: int = 0  # workers it was given to so far
    bounced: int = 0  # given back by the scheduler, its worker alive


# -- versions ---------------------------------------------------------------------------


def versions() -> dict[str, str]:
    """What must match between this process and every worker."""
    import dask
    import distributed

    out = {"python": ".".join(platform.python_version_tuple()[:2]),
           "dask": dask.__version__, "distributed": distributed.__version__}
    for name in PACKAGES:
        if name not in out:
            out[name] = _installed(name) or "not installed"
    out[SAFE_UNPACK] = "yes" if hasattr(tarfile, "data_filter") else "no"
    code = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        code.update(path.name.encode() + b"\0" + path.read_bytes())
    out["the course's grading code"] = code.hexdigest()[:12]
    return out


def _installed(name: str) -> str | None:
    """The installed version of a package (None: not installed)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def pins() -> list[str]:
    """``name==version`` of each package a worker must share with this machine: pip
    constraints for the workers' image (``python -m grader.cluster > constraints.txt``)."""
    return [f"{name}=={version}" for name in PACKAGES if (version := _installed(name))]


def differences(here: dict[str, str], there: dict[str, str], keys) -> list[str]:
    return [f"{k} {there.get(k, 'unknown')} (here {here.get(k, 'unknown')})"
            for k in keys if there.get(k) != here.get(k)]


def check_versions(client) -> None:
    """Refuse workers or a scheduler that would not grade as this process would."""
    from .autograde import SetupError

    here = versions()
    problems = []
    try:
        sched = client.get_versions(check=False).get("scheduler", {})
        pkgs = dict(sched.get("packages", {}))
        py = str(pkgs.get("python", ""))
        pkgs["python"] = ".".join(py.split(".")[:2])
        problems += [f"the scheduler: {d}"
                     for d in differences(here, pkgs, ("python", *SCHEDULER_PACKAGES))
                     if pkgs.get(d.split()[0]) is not None]
    except Exception as exc:  # an older scheduler without the call: the workers decide
        logging.getLogger(__name__).debug("no scheduler versions: %s", exc)
    try:
        theirs = client.run(versions)
    except Exception as exc:
        raise SetupError(f"the Dask workers cannot run the course's grader ({_short(exc)}); "
                         "install the course on every worker (pip install '.[cluster]')") from exc
    for worker, there in sorted(theirs.items()):
        found = differences(here, there, list(here))
        if there.get(SAFE_UNPACK) != "yes" and not any(d.startswith(SAFE_UNPACK) for d in found):
            found.append(f"no {SAFE_UNPACK}")  # nor has this machine: it fails all the same
        problems += [f"worker {worker}: {d}" for d in found]
    if problems:
        raise SetupError(
            "the Dask cluster's software differs from this machine's, so its grades could "
            "differ; nothing was graded. Install the same versions everywhere (the same "
            "checkout of the course, pip install '.[cluster]'):\n  " + "\n  ".join(problems))


def dask_setup(worker=None) -> None:
    """Dask's preload hook: ``dask worker --preload grader.cluster`` imports nbgrader and the
    grading code when the worker starts (2-3 s per worker process), not in the first
    grading run that reaches it."""
    from .pool import PRELOAD

    for name in PRELOAD:
        importlib.import_module(name)


def sandbox_problem() -> str | None:
    """Why kernels cannot be sandboxed on this worker (None: they can)."""
    from .sandbox import probe_cached

    return probe_cached()


# -- the worker's side ------------------------------------------------------------------


class _Course:
    """A run's course files unpacked in a worker's own folder, and its Executor."""

    def __init__(self, bundle: Bundle):
        self.token = bundle.token
        self.root = Path(tempfile.mkdtemp(prefix="grader-dask-")).resolve()
        _unpack(bundle.data, self.root)
        self.executor = Executor(self.root, "sqlite:///" + str(self.root / "grading" /
                                                               "snapshot.db"),
                                 bundle.overrides)
        self.prepared: tuple[Task, Prepared] | None = None

    def grade(self, task: Task, nxt: Task | None):
        os.chdir(self.root)
        prep = None
        if self.prepared is not None:
            held, prep = self.prepared
            self.prepared = None
            if held.job.key != task.job.key:  # the parent changed its mind: drop it
                self.executor.stop(prep.km)
                self.remove(held)
                prep = None
        if prep is None:
            _unpack(task.data, self.root)
            prep = self.executor.prepare(task.job)
        try:
            if nxt is not None:  # its kernel boots while this one runs
                _unpack(nxt.data, self.root)
                self.prepared = (nxt, self.executor.prepare(nxt.job))
            return self.executor.run(prep)
        finally:
            self.remove(task)

    def remove(self, task: Task) -> None:
        for folder in task.folders:
            path = (self.root / folder).resolve()
            if path != self.root and path.is_relative_to(self.root):  # never outside
                shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        self.executor.stop_all()
        os.chdir(_HOME)
        shutil.rmtree(self.root, ignore_errors=True)


_HOME = os.getcwd()
_current: _Course | None = None


def _course(bundle: Bundle) -> _Course:
    global _current
    if _current is not None and _current.token != bundle.token:
        release()
    if _current is None:
        _current = _Course(bundle)
    return _current


def release() -> None:
    """Stop this worker's kernels and remove its folders (after a run, or at shutdown)."""
    global _current
    course, _current = _current, None
    if course is not None:
        course.close()


def grade_task(bundle: Bundle, task: Task, nxt: Task | None):
    """A Dask task: grade ``task`` on this worker, with ``nxt``'s kernel booting meanwhile."""
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    return _course(bundle).grade(task, nxt)


class GraderPlugin(WorkerPlugin):
    """Stops the grading kernels and removes the grading folders when a worker closes."""

    idempotent = True
    name = PLUGIN

    def teardown(self, worker) -> None:
        release()


def _pack(root: Path, folders: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for folder in folders:
            if (root / folder).exists():
                tar.add(root / folder, arcname=folder)
    return buf.getvalue()


def _unpack(data: bytes, root: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(root, filter="data")


# -- the parent's side ------------------------------------------------------------------


def connect(target: Target):
    """(client, cluster or None); SetupError if the scheduler cannot be reached."""
    from distributed import Client, LocalCluster

    from .autograde import SetupError

    if target.scheduler:
        try:
            return Client(target.scheduler, timeout=CONNECT_SECONDS, set_as_default=False), None
        except (OSError, TimeoutError) as exc:
            raise SetupError(f"cannot reach the Dask scheduler at {target.scheduler}: "
                             f"{_short(exc)}") from exc
    cluster = LocalCluster(n_workers=target.local_workers, threads_per_worker=1,
                           processes=True, host="127.0.0.1", protocol="tcp",
                           dashboard_address=None, silence_logs=logging.ERROR)
    try:
        return Client(cluster, set_as_default=False), cluster
    except BaseException:
        cluster.close()
        raise


def bundle(ag, todo, snapshot: Path, overrides: dict | None) -> Bundle:
    """nbgrader_config.py, the released notebooks of what is to be graded, the snapshot."""
    cd = ag.coursedir
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        tar.add(ag.root / "nbgrader_config.py", arcname="nbgrader_config.py")
        for assignment in sorted({s.assignment for s in todo}):
            rel = os.path.join(cd.release_directory, assignment)
            if (ag.root / rel).is_dir():
                tar.add(ag.root / rel, arcname=rel)
        tar.add(snapshot, arcname=os.path.join("grading", "snapshot.db"))
    return Bundle(token=uuid.uuid4().hex, data=buf.getvalue(), overrides=overrides)


def _workers(client) -> dict[str, dict]:
    """The scheduler's workers, asked for now. Not from ``client.scheduler_info()``: it
    returns the client's copy, which the client's own refresh (every 2 s, without the
    workers) can overwrite between the question and the answer; every worker would seem
    gone, and their submissions be graded again."""
    if "n_workers" in inspect.signature(client.scheduler_info).parameters:
        return client.sync(client.scheduler.identity, n_workers=-1)["workers"]
    return client.scheduler_info()["workers"]  # older Dask: the copy holds the workers


class _Slot:
    def __init__(self, index: int, address: str):
        self.index, self.address = index, address
        self.running: tuple[Task, object] | None = None  # (task, future)
        self.next: Task | None = None  # handed to it with the running one, to boot


def grade(ag, gb, todo, summary, target: Target) -> None:
    """Grade ``todo`` on the cluster; the Dask counterpart of the pool's loop."""
    from distributed import wait

    from . import gradebook
    from .autograde import SetupError

    client, cluster = connect(target)
    tmp = Path(tempfile.mkdtemp(prefix="grader-"))
    bar = None
    try:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except (TimeoutError, OSError) as exc:
            raise SetupError(f"no Dask worker joined {target.describe()} within "
                             f"{WORKER_WAIT} s") from exc
        check_versions(client)
        if ag.wants_sandbox():
            bad = {w: why for w, why in client.run(sandbox_problem).items() if why}
            if bad:
                worker, why = sorted(bad.items())[0]
                more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
                raise SetupError(f"grading kernels cannot be sandboxed on Dask worker "
                                 f"{worker}{more}: {why}")
        client.register_plugin(GraderPlugin(), name=PLUGIN)
        snap = tmp / "gradebook.db"
        gradebook.snapshot(ag.nbg.db_url, snap)
        files = bundle(ag, todo, snap, ag.overrides)
        course_files = None

        def course():
            """The course files on the workers; sent again if the scheduler lost them (a
            worker that dies holding a task that uses them can take them along)."""
            nonlocal course_files
            if course_files is None or course_files.status != "finished":
                if client.status != "running":  # the scheduler is away: sending them
                    course_files = None  # would wait for the connect timeout
                    return None
                try:
                    course_files = client.scatter(files, broadcast=True, hash=False,
                                                  timeout=SCHEDULER_GONE)
                except Exception:  # the scheduler is gone: watch() says so
                    course_files = None
            return course_files

        def _alive() -> set[str] | None:
            """The scheduler's workers now; None if the scheduler does not answer."""
            try:
                return set(_workers(client)) if client.status == "running" else None
            except Exception:
                return None

        bar = ag._bar(len(todo))
        pending = deque(todo)
        retry: deque[Task] = deque()  # given back by a worker that went away
        slots: dict[str, _Slot] = {}
        numbered = 0
        seen_scheduler = time.time()
        no_worker_since = None

        def next_task() -> Task | None:
            if retry:
                return retry.popleft()
            while pending:
                sub = pending.popleft()
                item = ag.begin(gb, sub)
                if isinstance(item, Job):
                    folders = [os.path.relpath(ag.root / ag.nbg.path(d, item.student,
                                                                     item.assignment), ag.root)
                               for d in (ag.coursedir.submitted_directory,
                                         ag.coursedir.autograded_directory)]
                    return Task(item, _pack(ag.root, folders), folders)
                records.save(ag.root, item)
                ag.record(summary, bar, item)
            return None

        def feed(slot: _Slot) -> None:
            if slot.running is not None:
                return
            task, slot.next = slot.next or next_task(), None
            if task is None:
                return
            slot.next = next_task()
            if course() is None:  # no scheduler: keep both for later
                retry.extendleft([t for t in (slot.next, task) if t is not None])
                slot.next = None
                return
            task.tries += 1
            key = (f"grade-{task.job.assignment}-{task.job.student}-{task.tries}-"
                   f"{uuid.uuid4().hex[:8]}")
            future = client.submit(grade_task, course(), task, slot.next, key=key,
                                   workers=[slot.address], allow_other_workers=False,
                                   pure=False)
            slot.running = (task, future)

        def lost(slot: _Slot, why: str) -> None:
            """``slot``'s worker is gone: its submission is tried again once, or failed."""
            if slot.next is not None:
                retry.appendleft(slot.next)  # never started: no try counted
                slot.next = None
            if slot.running is None:
                return
            (task, future), slot.running = slot.running, None
            future.cancel()
            if task.tries < TRIES:
                retry.appendleft(task)
            else:
                ag.record(summary, bar, ag.fail(
                    task.job, f"lost: {why} while grading it, and so did the worker that "
                    f"tried again ({task.tries} tries); the submission itself may crash its "
                    "grader: look at it, or grade it alone with the pool", slot.index))

        def watch() -> bool:
            """Follow workers that come and go; False once the scheduler is gone."""
            nonlocal seen_scheduler, no_worker_since, numbered
            try:
                alive = _workers(client) if client.status == "running" else None
            except Exception:
                alive = None
            if alive is None:
                return time.time() - seen_scheduler < SCHEDULER_GONE
            seen_scheduler = time.time()
            for address, slot in list(slots.items()):
                if address not in alive:
                    del slots[address]
                    lost(slot, f"the Dask worker {address} stopped")
            for address in alive:
                if address not in slots:
                    slots[address] = _Slot(numbered, address)
                    numbered += 1
            summary.workers = max(summary.workers, len(slots))
            no_worker_since = None if slots else (no_worker_since or time.time())
            return True

        def finished(slot: _Slot) -> None:
            (task, future), slot.running = slot.running, None
            try:
                result, outputs = future.result()
            except Exception as exc:
                # A worker that dies takes its pinned task with it: the scheduler forgets
                # the task (or gives up on it) before this process sees the worker go.
                if future.cancelled() or type(exc).__name__ in ("KilledWorker",
                                                                "FutureCancelledError",
                                                                "CancelledError"):
                    # Asked of the scheduler itself: when every worker has died, the course
                    # files died with them, but the scheduler is there and the try counts.
                    alive = _alive()
                    if alive is None:
                        retry.appendleft(task)  # the scheduler is gone, not the worker
                        task.tries -= 1
                        return
                    if slot.address in alive and task.bounced < TRIES:
                        task.tries -= 1  # not its fault: its worker lives; again
                        task.bounced += 1
                        retry.appendleft(task)
                        return
                    slot.running = (task, future)
                    slots.pop(slot.address, None)  # watch() takes it back if it lives
                    lost(slot, f"the Dask worker {slot.address} stopped")
                    return
                feed(slot)
                ag.record(summary, bar, ag.fail(
                    task.job, f"the grading process failed: {type(exc).__name__}: "
                    f"{_short(exc)}", slot.index))
                return
            result.worker = slot.index
            feed(slot)  # first, so the worker gets its next submission at once
            ag.record(summary, bar, ag.save(gb, task.job, result, outputs))

        try:
            watch()
            watched = time.time()
            while retry or pending or any(s.running or s.next for s in slots.values()):
                for slot in list(slots.values()):
                    feed(slot)
                running = [s.running[1] for s in slots.values() if s.running]
                polled = time.monotonic()
                if running:
                    try:  # wait() finds its client as the current one, not in its futures
                        with client.as_current():
                            wait(running, timeout=POLL, return_when="FIRST_COMPLETED")
                    except Exception:  # timed out, or the scheduler is unreachable
                        pass
                if not any(f.done() for f in running):  # a wait() that failed at once
                    time.sleep(max(0.0, POLL - (time.monotonic() - polled)))  # is no spin
                for slot in list(slots.values()):
                    if slot.running is not None and slot.running[1].done():
                        finished(slot)
                if time.time() - watched >= POLL or not running:
                    watched = time.time()
                    if not watch():
                        summary.stopped = (f"{target.describe()} stopped answering for "
                                           f"{SCHEDULER_GONE} s")
                        break
                    if no_worker_since and time.time() - no_worker_since > WORKER_WAIT:
                        summary.stopped = f"no Dask worker left for {WORKER_WAIT} s"
                        break
        except KeyboardInterrupt:
            summary.interrupted = True
        if summary.stopped:
            summary.interrupted = True
        if summary.interrupted:
            unfinished = [s.running[0].job for s in slots.values() if s.running]
            unfinished += [s.next.job for s in slots.values() if s.next]
            unfinished += [t.job for t in retry]
            for job in unfinished:
                ag._discard_outputs(job)
            summary.not_done = len(unfinished) + len(pending)
    finally:
        if bar is not None:
            bar.close()
        _close(client, cluster)
        shutil.rmtree(tmp, ignore_errors=True)


def _close(client, cluster) -> None:
    """Leave the cluster (a local one stops, with its workers and their kernels)."""
    for thing in (client, cluster):
        if thing is not None:
            try:
                thing.close()
            except Exception:
                pass


def _short(exc: BaseException) -> str:
    from .execute import short

    return printable(short(exc))


if __name__ == "__main__":  # pip constraints for a worker image (deploy/kubernetes/Dockerfile)
    print(f"# python {'.'.join(platform.python_version_tuple()[:2])}: the workers' Python")
    print("\n".join(pins()))
