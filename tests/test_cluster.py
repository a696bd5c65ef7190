"""Autograde on Dask distributed (grader/cluster.py) with real processes over TCP: a
LocalCluster of two worker processes, and a scheduler and workers started as separate
programs (`dask scheduler`, `dask worker`) in folders of their own, so nothing is shared but
the network. Both give the pool's grades; a worker killed mid-submission costs that
submission one more try and then a clear "lost"; a scheduler that goes away stops the run
with what was saved kept; a worker of another version is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import wrong_answers
from dask_processes import dask_processes
from grader_fixtures import TINY, TINY_CASES, TINY_FULL, copy_tree, submit_case
from test_grader import REAL, released  # noqa: F401  (the released course, built once)

from grader import course, gradebook, records

pytestmark = pytest.mark.xdist_group("cluster")
HANG = {"double": "import time\ntime.sleep(600)\ndef double(x):\n    return 2 * x",
        "fetch": 'async def fetch(delay):\n    return f"done {delay}"'}
# A right answer that is slow only where a Dask worker grades it (its kernel's folder is in
# the worker's own grader-dask-* folder): the pool, which grades it next, finds it quick.
SLOW_ON_DASK = dict(TINY_CASES["solved"], double=(
    "import os, time\n"
    "if 'grader-dask-' in os.getcwd():\n"
    "    time.sleep(600)\n" + TINY_CASES["solved"]["double"]))


def autograde(root: Path, *flags: str, wait: bool = True):
    cmd = [sys.executable, "-m", "grader", "autograde", "--course", str(root),
           "--no-progress", *flags]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (user and system, from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scores(root: Path, assignment: str) -> dict:
    return gradebook.scores("sqlite:///" + str(root / "grading" / "gradebook.db"),
                            "asyncio-course", assignment)


def statuses(root: Path) -> dict:
    return {(r.student, r.assignment): (r.status, r.score, r.max_score)
            for r in records.load_all(root)}


# -- the same grades as the pool's --------------------------------------------------------


@pytest.fixture(scope="module")
def klass(released, tmp_path_factory) -> Path:  # noqa: F811
    """01_coroutines handed in solved, untouched, with a typical wrong answer, and broken
    (a syntax error in an answer), graded by the pool in a process of its own."""
    root = copy_tree(released, tmp_path_factory.mktemp("cluster") / "course")
    nb = nbformat.read(course.release_notebook(REAL, root), as_version=4)
    solutions = course.solution_answers(REAL, root)
    cell, variants = next(iter(wrong_answers(REAL).items()))
    first = sorted(solutions)[0]
    for student, answers in {
            "ada": solutions, "cy": None,
            "bob": dict(solutions, **{cell: next(iter(variants.values()))}),
            "dan": dict(solutions, **{first: "def broken(:\n"})}.items():
        course.submit(root, REAL, student, course.fill_answers(nb, answers) if answers else nb)
    return root


@pytest.fixture(scope="module")
def by_pool(klass, tmp_path_factory) -> Path:
    """The class graded by the course's pool (the default), which never imports Dask."""
    root = copy_tree(klass, tmp_path_factory.mktemp("pool") / "course")
    probe = ("import sys; from grader.__main__ import main; "
             f"rc = main(['autograde', '--course', {str(root)!r}, '--jobs', '2', "
             "'--no-progress']); "
             "print('DASK-IMPORTED' if {'dask', 'distributed'} & set(sys.modules) else 'NO-DASK'); "
             "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 graded, 0 failed" in proc.stdout, proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "NO-DASK", proc.stdout
    return root


def assert_same_as_pool(root: Path, pool: Path, out: str) -> None:
    assert "4 graded, 0 failed" in out, out
    ours, theirs = scores(root, REAL), scores(pool, REAL)
    assert set(ours) == {(REAL, s) for s in ("ada", "bob", "cy", "dan")}
    assert ours == theirs
    by_student = {s: sum(c["score"] for c in cells.values()) for (_, s), cells in ours.items()}
    full = sum(c["max_score"] for c in ours[(REAL, "ada")].values())
    assert by_student["ada"] == full and by_student["cy"] == 0
    assert 0 < by_student["bob"] < full and by_student["dan"] < full
    assert statuses(root) == statuses(pool)
    for student in ("ada", "bob", "cy", "dan"):  # the autograded notebooks came back
        assert (root / "grading" / "autograded" / student / REAL / f"{REAL}.ipynb").is_file()


def test_a_local_cluster_of_two_worker_processes_gives_the_pools_grades(
        klass, by_pool, tmp_path):
    root = copy_tree(klass, tmp_path / "course")
    proc = autograde(root, "--cluster", "local", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 worker(s)" in proc.stdout
    assert_same_as_pool(root, by_pool, proc.stdout)
    again = autograde(root, "--cluster", "local", "--jobs", "2")  # resume: nothing left
    assert again.returncode == 0 and "Skipped 4 submission(s)" in again.stdout, again.stdout


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A scheduler and a `dask worker --nworkers 2 --nthreads 1` started as programs."""
    with dask_processes(tmp_path_factory.mktemp("dask")) as procs:
        client = procs.client()
        try:
            procs.wait_ready(client)
            yield procs, client
        finally:
            client.close()


def test_a_separately_started_scheduler_and_workers_give_the_pools_grades(
        klass, by_pool, dask_cluster, tmp_path):
    procs, client = dask_cluster
    root = copy_tree(klass, tmp_path / "course")
    proc = autograde(root, "--scheduler", procs.address)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_same_as_pool(root, by_pool, proc.stdout)
    # the workers graded in folders of their own, and removed each submission after it
    theirs = list((procs.tmp / "workers").glob("grader-dask-*"))
    assert theirs and all((t / "nbgrader_config.py").is_file() for t in theirs)
    assert not list((procs.tmp / "workers").glob("grader-dask-*/grading/*/*/*"))


# -- faults -------------------------------------------------------------------------------


def wait_for(what, timeout: float, step: float = 0.2):
    end = time.time() + timeout
    while time.time() < end:
        found = what()
        if found:
            return found
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what.__doc__}")


def running_on(client, marker: str) -> str | None:
    """The worker whose current task's key holds ``marker``."""
    for worker, keys in client.processing().items():
        if any(marker in str(k) for k in keys):
            return worker
    return None


def test_the_workers_are_asked_of_the_scheduler_not_read_from_the_clients_copy(dask_cluster):
    """The client refreshes its copy of the scheduler's information (every 2 s; here every
    5 ms) without the workers: read from it, all workers seemed gone now and then, and
    grading gave their submissions to them again while the first tries still ran."""
    import dask

    from grader.cluster import _workers

    procs, _ = dask_cluster
    with dask.config.set({"distributed.client.scheduler-info-interval": "5ms"}):
        client = procs.client()
    try:
        seen = []
        for _ in range(100):
            seen.append(len(_workers(client)))
            time.sleep(0.005)
    finally:
        client.close()
    assert seen == [procs.workers] * 100


def kernel_launchers(folder: Path) -> list[int]:
    """The grading kernels' launchers (grader.sandbox) whose command line names ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0") if proc.name.isdigit() else []
        except OSError:
            continue
        if b"grader.sandbox" in cmd and any(str(folder).encode() in arg for arg in cmd):
            found.append(int(proc.name))
    return found


def test_a_worker_killed_mid_submission_costs_one_more_try_then_a_clear_loss(
        released, dask_cluster, tmp_path):  # noqa: F811
    procs, client = dask_cluster
    root = copy_tree(released, tmp_path / "course")
    submit_case(root, TINY, "ann", "solved")
    submit_case(root, TINY, "hal", None, answers=HANG)  # a cell that never ends
    submit_case(root, TINY, "sol", "solved")
    run = autograde(root, "--scheduler", procs.address, wait=False)
    try:
        killed = []
        for attempt in (1, 2):
            def hal_running(attempt=attempt):
                """hal's submission, try {attempt}, running for a moment on a worker"""
                return running_on(client, f"-{TINY}-hal-{attempt}-")

            worker = wait_for(hal_running, 90)
            cpu = cpu_seconds(run.pid)
            time.sleep(3 if attempt == 1 else 1.5)  # it is in its notebook now (or booting)
            if attempt == 1:  # the grading process waits on its workers; it does not spin
                used = cpu_seconds(run.pid) - cpu
                assert used < 0.75, f"the grading process used {used:.2f} s of CPU in 3 s"
            assert worker not in killed  # tried again on another worker
            # the second time every worker goes: the scheduler stays, and the try counts
            pids = client.run(os.getpid, workers=None if attempt == 2 else [worker])
            for pid in pids.values():
                os.kill(pid, signal.SIGKILL)
            killed.append(worker)
        out, _ = run.communicate(timeout=150)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 1, out
    assert "2 graded, 1 failed" in out, out
    assert f"hal/{TINY}: lost: the Dask worker" in out, out
    assert "2 tries" in out
    rec = records.load(root, TINY, "hal")
    assert rec.status == records.FAILED and rec.failure.startswith("lost:")
    got = scores(root, TINY)
    for student in ("ann", "sol"):
        assert {k: v["score"] for k, v in got[(TINY, student)].items()} == TINY_FULL

    def no_kernel_left():
        """the kernels of the killed workers to stop (the others stopped theirs)"""
        return not kernel_launchers(procs.tmp)

    wait_for(no_kernel_left, 15)
    procs.wait_ready(client)  # the nannies bring the killed workers back for the next test


def test_a_submission_too_long_to_check_fails_alone_on_dask_as_with_the_pool(
        released, dask_cluster, tmp_path):  # noqa: F811
    """The bound of CPU time before the kernel holds in a Dask worker's task thread too."""
    procs, _ = dask_cluster
    root = copy_tree(released, tmp_path / "course")
    with open(root / "nbgrader_config.py", "a") as f:
        f.write("\nc.SubmittedNotebooks.max_prepare_seconds = 1\n")
    submit_case(root, TINY, "sol", "solved")
    nb = course.fill_answers(nbformat.read(course.release_notebook(TINY, root), as_version=4),
                             dict(TINY_CASES["solved"],
                                  double=TINY_CASES["solved"]["double"] + "\n" * 9_000_000))
    path = root / "grading" / "submitted" / "huge" / TINY / f"{TINY}.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(nb))  # 18 MB, under the size limit; seconds of CPU to check
    proc = autograde(root, "--scheduler", procs.address)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 graded, 1 failed" in proc.stdout, proc.stdout
    rec = records.load(root, TINY, "huge")
    assert rec.failure == (
        f"grading/submitted/huge/{TINY}/{TINY}.ipynb cannot be graded: reading and checking it "
        "took more than 1 s of CPU time, the limit before its kernel starts "
        "(c.SubmittedNotebooks.max_prepare_seconds in nbgrader_config.py)"), rec.failure
    assert rec.failed_before_kernel
    assert {k: v["score"] for k, v in scores(root, TINY)[(TINY, "sol")].items()} == TINY_FULL


def test_a_scheduler_that_goes_away_stops_the_run_keeping_what_was_saved_for_the_next(
        released, tmp_path, tmp_path_factory):  # noqa: F811
    root = copy_tree(released, tmp_path / "course")
    students = ("ann", "bob", "hal", "sol", "tom")
    for student in students:
        submit_case(root, TINY, student, None if student == "hal" else "solved",
                    answers=SLOW_ON_DASK if student == "hal" else None)
    with dask_processes(tmp_path_factory.mktemp("dask")) as procs:
        client = procs.client()
        try:
            procs.wait_ready(client)  # both workers: ann's and hal's tasks run side by side
            run = autograde(root, "--scheduler", procs.address, wait=False)

            def ann_graded_and_hal_running():
                """ann's grades saved and hal's submission on a worker"""
                if run.poll() is not None:  # it ended: no use waiting
                    raise AssertionError("the run ended")
                ann = records.load(root, TINY, "ann")  # each record is written as it is saved
                return (ann is not None and ann.status == records.GRADED
                        and running_on(client, f"-{TINY}-hal-"))

            try:
                wait_for(ann_graded_and_hal_running, 90)
            except BaseException:
                if run.poll() is None:
                    run.kill()
                raise AssertionError(run.communicate()[0]) from None  # what it said
        finally:
            client.close()  # before the scheduler goes: it would try to reconnect
        procs.kill_scheduler()
        try:
            out, _ = run.communicate(timeout=120)  # read as it comes: a full pipe would block
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert run.returncode == 130, out  # as for Ctrl-C: stopped, with what was saved kept
    assert f"Stopped: the Dask scheduler at {procs.address} stopped answering" in out, out
    first = {s for s in students if (r := records.load(root, TINY, s)) and r.status == "graded"}
    assert "ann" in first and "hal" not in first, out
    assert f"Interrupted: {len(students) - len(first)} submission(s) not graded yet" in out, out
    got = scores(root, TINY)
    for student in students:
        rec = records.load(root, TINY, student)
        done = root / "grading" / "autograded" / student / TINY / f"{TINY}.ipynb"
        if student in first:  # whole: record, gradebook rows and graded notebook
            assert (rec.score, rec.max_score) == (5.0, 5.0)
            assert {k: v["score"] for k, v in got[(TINY, student)].items()} == TINY_FULL
            assert done.is_file()
        else:  # no half-graded submission is left: the next run grades it
            assert rec is None or rec.status != records.GRADED
            assert not done.exists()
    # the next run (the pool, here) grades the rest, and only the rest
    again = autograde(root, "--jobs", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(students) - len(first)} graded, 0 failed" in again.stdout, again.stdout
    assert f"Skipped {len(first)} submission(s)" in again.stdout, again.stdout
    got = scores(root, TINY)
    for student in students:
        assert {k: v["score"] for k, v in got[(TINY, student)].items()} == TINY_FULL, student
        assert records.load(root, TINY, student).status == records.GRADED


@pytest.mark.parametrize("other, said", [
    # a worker whose Dask says it is another one
    ("import distributed\ndistributed.__version__ = '2000.1.0'\n", "distributed 2000.1.0 (here"),
    # a worker whose Python (3.11.0-3.11.3) cannot unpack a submission safely
    ("import tarfile\nvars(tarfile).pop('data_filter', None)\n",
     "tarfile's data filter (Python 3.11.4 or "
     "newer) no (here yes)"),
], ids=["dask", "python"])
def test_workers_of_another_version_are_refused_before_anything_is_graded(
        released, tmp_path, other, said):  # noqa: F811
    root = copy_tree(released, tmp_path / "course")
    submit_case(root, TINY, "ann", "solved")
    preload = tmp_path / "other_version.py"
    preload.write_text(other)
    with dask_processes(tmp_path / "dask", workers=1, preload=preload) as procs:
        proc = autograde(root, "--scheduler", procs.address)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert said in proc.stderr, proc.stderr
    assert "nothing was graded" in proc.stderr
    assert records.load(root, TINY, "ann") is None
    assert scores(root, TINY) == {}


def test_the_dask_options_are_checked_before_anything_runs(released, tmp_path):  # noqa: F811
    root = copy_tree(released, tmp_path / "course")
    submit_case(root, TINY, "ann", "solved")
    both = autograde(root, "--scheduler", "tcp://127.0.0.1:1", "--cluster", "local")
    assert both.returncode == 2 and "exclude each other" in both.stderr
    assert records.load(root, TINY, "ann") is None



def test_the_workers_image_is_pinned_to_what_the_version_check_compares():
    """``python -m grader.cluster`` writes the pip constraints of a worker image: the
    versions of this machine that the check before a Dask run compares, no more."""
    from grader import cluster

    out = subprocess.run([sys.executable, "-m", "grader.cluster"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    pinned = dict(line.split("==") for line in lines)
    here = cluster.versions()
    assert pinned == {name: here[name] for name in cluster.PACKAGES
                      if here[name] != "not installed"}
    assert {"dask", "distributed", "nbgrader", "ipykernel"} <= set(pinned)
