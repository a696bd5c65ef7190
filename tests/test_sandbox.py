"""The sandbox every grading kernel runs in (grader/sandbox.py), tested with real kernels:
what a kernel can see, reach and leave behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest

from grader import preprocessors, sandbox
from grader.preprocessors import GuardedExecute, SandboxedKernelManager

pytestmark = pytest.mark.xdist_group("sandbox")
COURSE = Path(__file__).resolve().parent.parent


def run(cells: list[str], folder: Path, **config) -> tuple[list[str], list[str]]:
    """Run ``cells`` in a grading kernel started in ``folder``; each cell's text output
    (errors as "Name: value"), and what the grader reported (the sandbox's note last)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    config.setdefault("timeout", 30)
    ex = GuardedExecute(**config)
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(folder)}})
    texts = []
    for cell in nb.cells:
        parts = [o.get("text", "") if o.get("output_type") == "stream"
                 else f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs]
        texts.append("".join(parts).strip())
    return texts, ex.reports + [ex.sandbox_note]


@pytest.fixture(scope="module")
def host_server():
    """A TCP server on the host's loopback, which a sandboxed kernel must not reach."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                conn.sendall(b"host secret\n")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join()
    srv.close()


def test_this_machine_can_sandbox_kernels():
    assert sandbox.probe() == "", "bubblewrap must work here (it is installed by .ci/run)"


def test_a_sandboxed_kernel_sees_and_reaches_only_what_it_needs(tmp_path, host_server,
                                                               monkeypatch):
    folder = tmp_path / "grading" / "autograded" / "ada" / "01_coroutines"
    folder.mkdir(parents=True)
    (folder / "01_coroutines.ipynb").write_text('{"hidden": "tests"}')
    (folder / "data.txt").write_text("the assignment's data file")
    (folder / "link.txt").symlink_to(COURSE / "README.md")
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do-not-show")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # as nbgrader sets it
    outs, reports = run([
        f"import os; print(os.getuid(), os.getpid(), os.getcwd() == {str(folder)!r})",
        "print(sorted(os.listdir('.')))",
        f"print(os.path.exists({str(COURSE / 'solutions')!r}), "
        f"os.path.exists({str(COURSE / 'README.md')!r}))",
        "print('GRADER_SECRET_TOKEN' in os.environ, os.environ.get('HOME'), "
        "os.environ.get('NBGRADER_EXECUTION'))",
        "print(sorted(p for p in os.listdir('/proc') if p.isdigit()))",
        f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {host_server}), "
        "timeout=2)\n    print('reached the host')\nexcept OSError as e:\n"
        "    print(type(e).__name__)",
        "open('/tmp/kept', 'w').write('x'); open('/dev/shm/kept', 'w').write('x'); "
        "open('out.txt', 'w').write('x'); print('wrote')",
        "import asynclab, grader.kernel_guard; print('imports')",
    ], folder)
    assert outs[0] == f"{sandbox.SANDBOX_UID} 2 True", outs
    assert outs[1] == "['data.txt']", "no notebook (hidden tests) and no link in its folder"
    assert outs[2] == "False False", "the course folder is not in the kernel's file system"
    assert outs[3] == "False /tmp autograde", \
        "the grader's environment does not reach the kernel; nbgrader's signal does"
    assert outs[4] == "['1', '2']", "the kernel sees only itself and its sandbox's init"
    assert outs[5] == "ConnectionRefusedError", "the host's loopback is not the kernel's"
    assert outs[6] == "wrote" and outs[7] == "imports", outs
    assert not (folder / "out.txt").exists(), "writes go to the kernel's private copy"
    assert not Path("/dev/shm/kept").exists() and not Path("/tmp/kept").exists()
    assert reports == ["sandboxed"], reports


def test_what_the_kernel_starts_dies_with_it(tmp_path):
    marker = f"sandbox-test-{os.getpid()}"
    outs, reports = run([
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', "
        f"'import time; time.sleep(300)', '{marker}'], start_new_session=True); "
        "print('started')",
        "print('next cell')",
    ], tmp_path)
    assert outs == ["started", "next cell"]
    assert any("left 1 process(es) running" in r for r in reports), reports
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes()
            except OSError:
                continue
            assert marker.encode() not in cmdline, "a process outlived its cell"


def test_without_the_sandbox_the_kernel_runs_as_the_grader_and_says_so(tmp_path):
    outs, reports = run([f"import os; print(os.getuid() == {os.getuid()})"], tmp_path,
                        kernel_manager_class=_Unsandboxed)
    assert outs == ["True"]
    assert reports[-1].startswith("no sandbox (--no-sandbox)"), reports


class _Unsandboxed(SandboxedKernelManager):
    sandbox = False


def test_a_machine_without_bubblewrap_is_told_how_to_get_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    why = sandbox.probe()
    assert "bubblewrap" in why and "apt-get install bubblewrap" in why and "--no-sandbox" in why


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


@pytest.mark.parametrize("how", ["launcher killed", "kernel manager kills it"])
def test_no_kernel_outlives_its_launcher(tmp_path, how):
    """However grading ends, the kernel and what it started end with it: jupyter_client
    kills the launcher's process group only, and a grader can be killed outright."""
    import signal
    import time

    from jupyter_core.utils import run_sync

    km = SandboxedKernelManager(kernel_name="python3")
    run_sync(km.start_kernel)(cwd=str(tmp_path))
    try:
        kc = km.blocking_client()  # is_alive asks the manager, not heartbeats
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        kc.execute("import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
                   "'import time; time.sleep(300)'], start_new_session=True)")
        kernel, init = km.kernel_pid(), km._init_pid()
        deadline = time.monotonic() + 30
        while len(km.processes()) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        started = km.processes()
        assert kernel and started, "the kernel and its child are running"
        kc.stop_channels()
        if how == "launcher killed":
            os.kill(km.provisioner.pid, signal.SIGKILL)
        else:
            run_sync(km.shutdown_kernel)(now=True)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in [init, kernel, *started]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in [init, kernel, *started]), "the sandbox outlived its launcher"
    finally:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)


GRADING_PROCESS = """
import sys, time
from jupyter_core.utils import run_sync
from grader.preprocessors import SandboxedKernelManager

km = SandboxedKernelManager(kernel_name="python3")
run_sync(km.start_kernel)(cwd=sys.argv[1])
kc = km.blocking_client()
kc.start_channels()
kc.wait_for_ready(timeout=60)
while km._init_pid() is None:
    time.sleep(0.05)
print(km.provisioner.pid, km._init_pid(), km.kernel_pid(), flush=True)
time.sleep(300)
"""


def test_a_grading_process_killed_outright_takes_its_kernels_with_it(tmp_path):
    """A grading worker killed with SIGKILL (out of memory, a lost cluster worker, an
    instructor's kill -9) runs no clean-up of its own: its kernels' launchers see it go and
    end their sandboxes."""
    import time

    grading = subprocess.Popen([sys.executable, "-c", GRADING_PROCESS, str(tmp_path)],
                               stdout=subprocess.PIPE, text=True, cwd=COURSE)
    try:
        pids = [int(p) for p in grading.stdout.readline().split()]
        assert len(pids) == 3 and all(_alive(p) for p in pids), pids
        grading.kill()
        grading.wait()
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "the launcher, sandbox or kernel outlived it"
    finally:
        if grading.poll() is None:
            grading.kill()


DIES_AT_ONCE = """
import os, subprocess, sys
from jupyter_core.utils import run_sync
from grader.preprocessors import SandboxedKernelManager

started = subprocess.Popen.__init__

def start(self, args, *rest, **kw):
    if "grader.sandbox" in args and "--" in args:  # a kernel's launcher, as started...
        cut = args.index("--")  # ...with a sandbox that waits instead of a kernel
        args = args[:cut + 1] + ["/usr/bin/bwrap", "--die-with-parent", "--unshare-pid",
                                 "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                 "sleep", sys.argv[2]]
        started(self, args, *rest, **kw)
        print(self.pid, flush=True)
        os._exit(0)  # before the launcher has even started Python
    started(self, args, *rest, **kw)

subprocess.Popen.__init__ = start
km = SandboxedKernelManager(kernel_name="python3")
run_sync(km.start_kernel)(cwd=sys.argv[1])
"""


def test_a_grading_process_that_dies_as_its_kernel_starts_takes_the_kernel_with_it(tmp_path):
    """A worker stopped while it launches the next submission's kernel (Ctrl-C, a lost Dask
    worker) is gone before the launcher can see who started it: the launcher is told, and
    ends its sandbox. Before, it took init for its parent and lived on, holding the
    grading command's output open."""
    import time

    marker = "617.25"  # seconds of sleep: a number no other process has on its command line
    grading = subprocess.Popen([sys.executable, "-c", DIES_AT_ONCE, str(tmp_path), marker],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               cwd=COURSE)
    with grading.stdout:  # an orphaned launcher would hold this pipe open: read one line
        launcher = int(grading.stdout.readline())
    grading.wait(60)

    def left() -> list[int]:
        """the launcher, and the sandbox it started"""
        found = [launcher] if _alive(launcher) else []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes() \
                        and _alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
        return sorted(set(found))

    deadline = time.monotonic() + 30
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        assert not left(), "the kernel's launcher or sandbox outlived the grading process"
    finally:
        for pid in left():
            os.kill(pid, signal.SIGKILL)


def test_the_demo_server_is_the_graders_and_out_of_the_kernels_reach(tmp_path):
    """Grading kernels reach the course's demo server on their own loopback; it runs outside
    their sandbox, so its counters cannot be rewritten, and a kernel cannot stop it."""
    outs, reports = run([
        "import os, urllib.request\nfrom asynclab import demo_server\n"
        "server = demo_server()\nprint(os.environ['ASYNCLAB_DEMO_SERVER'], server.base_url)",
        "window = server.reset_stats()\n"
        "urllib.request.urlopen(server.url('/delay/0.01')).read()\n"
        "print(window.stats()['total'])",
        "print(sorted(p for p in os.listdir('/proc') if p.isdigit()))",
        "server.stop()\nprint(window.stats()['total'])",
    ], tmp_path)
    url = f"http://{sandbox.DEMO_HOST}:{sandbox.DEMO_PORT}"
    assert outs[0] == f"{url} {url}", outs
    assert outs[1] == "1", outs
    assert outs[2] == "['1', '2']", "the server's process is not in the kernel's namespace"
    assert outs[3] == "1", "stop() does not stop the grader's server"
    assert reports == ["sandboxed"], reports


def test_a_grader_whose_temporary_folder_is_deep_still_starts_its_kernels(tmp_path,
                                                                         monkeypatch):
    """A kernel's sockets are files in its private folder, and a socket's path may not pass
    107 bytes: under a deep ``TMPDIR`` (a Dask worker's scratch folder, say) no kernel could
    bind, and grading hung. Its folder goes where the path fits."""
    deep = tmp_path / ("deep-" * 12) / ("folder-" * 8)
    deep.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(deep))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches the folder it chose
    assert len(os.path.join(tempfile.mkdtemp(dir=deep), "conn", "kernel-1")) > 107
    outs, reports = run(["import os; print(6 * 7, os.path.exists(os.environ['TMPDIR']))"],
                        tmp_path)
    assert outs == ["42 True"], outs
    assert reports[-1].startswith("sandboxed"), reports
    top = preprocessors.kernel_folder()
    os.rmdir(top)
    assert top.startswith("/tmp/grading-kernel-"), top


def test_a_grading_kernel_gets_a_ready_font_list_and_plots_without_a_word(tmp_path):
    """Matplotlib's first use in a fresh kernel would build its font list (half a second,
    and a warning on stderr, which costs a test cell its points): the grader hands every
    kernel one it built itself."""
    outs, _ = run([
        "import os; print(sorted(n.startswith('fontlist') for n in "
        "os.listdir(os.environ['MPLCONFIGDIR'])))",
        "import matplotlib; matplotlib.use('agg'); import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(); ax.set_title('x'); fig.canvas.draw()",
    ], tmp_path)
    assert outs == ["[True]", ""], outs


def test_a_cell_timeout_counts_the_kernels_own_time_not_its_wait_for_a_busy_cpu(tmp_path):
    # the kernel's main thread shares one CPU with three spinners: it gets half of it or less
    cpu = min(os.sched_getaffinity(0))
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        for proc in spinners:
            os.sched_setaffinity(proc.pid, {cpu})
        outs, reports = run([
            f"import os, time; os.sched_setaffinity(0, {{{cpu}}}); print('pinned')",
            # 1.5 s of work, under the 2 s timeout: 3 s or more on the clock here
            "start, clock = time.thread_time(), time.monotonic()\n"
            "while time.thread_time() - start < 1.5: pass\n"
            "print('done, slowed down:', time.monotonic() - clock > 2)",
            "while True: pass",  # still stopped, when its own time is up
            "time.sleep(60)",  # not slowed down: stopped after 2 s
        ], tmp_path, timeout=2, max_stretch=30)
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()
    assert outs[:2] == ["pinned", "done, slowed down: True"], outs
    # stopped (after 2 s of its own time, which may or may not be longer on the clock)
    assert re.fullmatch(r"CellTimeoutError: did not finish in 2 s (\(an endless loop\?\)|"
                        r"of its own time \(an endless loop\? \d+ s on the clock: it also "
                        r"waited for a CPU\))", outs[2]), outs
    assert outs[3] == "CellTimeoutError: did not finish in 2 s (a blocking call such as " \
                      "time.sleep?)", outs
    assert not any("cell 1 " in r for r in reports), reports


def cell(source: str, **nbgrader):
    """A code cell, with nbgrader's metadata if any is given."""
    new = nbformat.v4.new_code_cell(source)
    if nbgrader:
        new.metadata["nbgrader"] = {"schema_version": 3, "locked": False, **nbgrader}
    return new


def answer(grade_id: str, source: str):
    return cell(source, solution=True, grade=False, grade_id=grade_id)


def test(grade_id: str, source: str):
    return cell(source, solution=False, grade=True, grade_id=grade_id, points=1)


test.__test__ = False  # a cell maker, not a test


def test_errors(nb) -> dict[str, list[str]]:
    """Each test cell's errors, as "Name: value"."""
    return {c.metadata["nbgrader"]["grade_id"]: [f"{o.ename}: {o.evalue}" for o in c.outputs
                                                 if o.output_type == "error"]
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


test_errors.__test__ = False


def test_a_failing_test_first_names_the_cell_that_broke_before_it(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        answer("half", "def half(x):\n    return x / 2\n\nprint(half(1) / 0)"),
        test("test_half", "assert half(4) == 3"),
        answer("double", "def double(x):\n    raise NotImplementedError()\n\ndouble(1)"),
        test("test_double", "assert double(2) == 4"),
        answer("one", "def one():\n    return 1"),
        test("test_one", "assert one() == 1"),
        cell("import time\ntime.sleep(60)\nserver = 'ready'"),  # a course cell that hangs
        test("test_server", "assert server == 'ready'"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    ex = GuardedExecute(timeout=2)
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    errors = test_errors(nb)
    # the answer stopped at an error: said first, the test's own error after it
    assert errors["test_half"] == [
        "AnswerDidNotRun: the answer cell 'half' stopped at an error (ZeroDivisionError: "
        "float division by zero): fix that first", "AssertionError: "], errors
    # an untouched stub is not an error of the answer: its test says it
    assert errors["test_double"] == ["NotImplementedError: "], errors
    assert errors["test_one"] == [], errors
    assert errors["test_server"] == [
        "CourseCellDidNotRun: the course's cell 6 did not finish in 2 s (a blocking call "
        "such as time.sleep?), so this test could not pass",
        "NameError: name 'server' is not defined"], errors


def test_a_kernel_that_stops_answering_after_a_test_is_restarted_and_the_test_run_again(
        tmp_path):
    class FreezesOnce(GuardedExecute):
        """The kernel freezes (SIGSTOP) as the first test ends, as if it had hung there."""
        frozen = 0

        async def _ask(self, call, timeout=None):
            if call.startswith("after_test") and not FreezesOnce.frozen:
                FreezesOnce.frozen = self._kernel_pid()
                os.kill(FreezesOnce.frozen, signal.SIGSTOP)
            return await super()._ask(call, timeout)

    nb = nbformat.v4.new_notebook(cells=[
        cell("import asyncio"),
        answer("one", "def one():\n    return 1"),
        test("test_one", "assert one() == 1"),
        answer("two", "def two():\n    return 2"),
        test("test_two", "assert two() == 2"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    ex = FreezesOnce(timeout=30, guard_timeout=2)
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert FreezesOnce.frozen
    assert test_errors(nb) == {"test_one": [], "test_two": []}
    assert "the kernel stopped answering after test 'test_one': it was restarted and the " \
           "test run again" in ex.reports, ex.reports
    assert not _alive(FreezesOnce.frozen)
