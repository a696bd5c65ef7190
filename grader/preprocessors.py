"""nbgrader preprocessors that make autograding hold up against hostile and broken notebooks.

Both are named in ``nbgrader_config.py``, so plain ``nbgrader autograde`` and the course's
parallel grader (``python -m grader autograde``) grade the same way.

:class:`RebuildFromRelease` (first of ``Autograde.sanitize_preprocessors``): grading runs
the notebook the course released, cell for cell, with only the *source* of each answer cell
taken from the submission. Inserted cells are dropped, duplicated answers graded once (the
last copy), reordered cells put back, deleted tests restored, cell metadata and the kernel
restored; what was changed is reported.

:class:`GuardedExecute` (in place of nbgrader's ``Execute``):

- runs the kernel in a sandbox (:mod:`grader.sandbox`: memory, processes, file sizes,
  writes only below the submission's folder);
- before each test cell, undoes tampering with IPython, the clock, ``asyncio``,
  ``asynclab`` and the rest of what the tests rely on, down to each function's code and
  each class's attributes, resets trace functions and stops threads the answers left
  running (:mod:`grader.kernel_guard`); a test counts only if it reaches its last line,
  nothing protected changed while it ran and no thread of the answers is still running
  (fail-closed); what the guard costs is measured per notebook;
- a test that passes keeps its points even if the code under test wrote a warning to
  stderr (nbgrader alone would score it 0); a failing test never gets points;
- a cell that runs past the timeout, or kills the kernel, costs that cell: the kernel is
  interrupted, or restarted and the cells before replayed, and grading goes on; the report
  names the likely cause; the timeout counts the kernel's own time (time it waited for a
  CPU on a busy machine is added back, up to ``max_stretch`` times the timeout), so a
  correct answer does not time out because the machine is busy; a whole notebook has a
  wall-clock bound too;
- output beyond a limit per cell is dropped (a 100 MB print cannot flood the grader).
"""

from __future__ import annotations

import ast
import asyncio
import copy
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Integer

from . import integrity, sandbox
from .escape import printable
from .kernel_guard import expression
from .sandbox import remove_cgroup

REPORTS = "integrity"
SANDBOX = "sandbox"  # key in resources["nbgrader"]: what the kernel's sandbox said of itself
GUARD_COST = "guard_cost"  # key in resources["nbgrader"]: what the grading guard cost
COURSE_CODE = str(Path(__file__).resolve().parent.parent)  # holds grader/ and asynclab/  # key in resources["nbgrader"] where both preprocessors report


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def report(resources, line: str) -> None:
    resources.setdefault("nbgrader", {}).setdefault(REPORTS, []).append(line)


class RebuildFromRelease(NbGraderPreprocessor):
    """Grade the released notebook with the student's answers in it, nothing else."""

    def preprocess(self, nb, resources):
        from nbgrader.coursedir import CourseDirectory

        info = resources.get("nbgrader", {})
        cd = CourseDirectory(config=self.config)
        path = os.path.join(cd.format_path(cd.release_directory, ".", info.get("assignment")),
                            f"{info.get('notebook')}.ipynb")
        try:
            release = nbformat.read(path, as_version=4)
        except Exception as exc:
            self.log.warning("Cannot read the released notebook %s (%s): cells the student "
                             "added or moved are not removed", path, exc)
            report(resources, "the released notebook could not be read, so cells the student "
                              "added or moved were graded as submitted")
            return nb, resources
        rebuilt, lines = rebuild(nb, release)
        for line in lines:
            self.log.warning("%s", printable(line))
            report(resources, line)
        return rebuilt, resources


def rebuild(nb, release) -> tuple[NotebookNode, list[str]]:
    """``release`` with the answers of ``nb``; and what differed, in plain words."""
    lines: list[str] = []
    by_gid: dict[str, list] = {}
    by_id = {}
    for cell in nb.cells:
        gid = _meta(cell).get("grade_id")
        if gid:
            by_gid.setdefault(gid, []).append(cell)
        if cell.get("id"):
            by_id[cell["id"]] = cell
    released_gids = [_meta(c).get("grade_id") for c in release.cells if _meta(c).get("grade_id")]
    released_ids = {c.get("id") for c in release.cells}
    answers = [_meta(c)["grade_id"] for c in release.cells
               if _meta(c).get("solution") and _meta(c).get("grade_id")]
    present = sum(gid in by_gid for gid in released_gids)
    foreign = present < len(released_gids) / 2
    cells = []
    for index, rcell in enumerate(release.cells):
        meta = _meta(rcell)
        gid = meta.get("grade_id")
        new = copy.deepcopy(rcell)
        copies = by_gid.get(gid, []) if gid else []
        if gid and meta.get("solution"):
            if not copies:
                if any(g in by_gid for g in answers):
                    lines.append(f"answer cell '{gid}' was deleted: graded as unanswered")
            else:
                if len(copies) > 1:
                    lines.append(f"answer cell '{gid}' appears {len(copies)} times: "
                                 "the last copy was graded")
                chosen = copies[-1]
                # trailing white space means nothing to Python, but IPython tokenises every
                # line of a cell twice: 200,000 blank lines cost seconds of the cell's time
                new.source = chosen.source.rstrip()
                if chosen.cell_type != rcell.cell_type:
                    lines.append(f"answer cell '{gid}' was turned into a {chosen.cell_type} "
                                 f"cell: graded as {rcell.cell_type}")
                if _meta(chosen) != meta:
                    lines.append(f"the grading metadata of answer cell '{gid}' was edited: "
                                 "the course's was used")
        elif gid:
            what = "test cell" if meta.get("grade") else "locked cell"
            if not copies:
                lines.append(f"{what} '{gid}' was deleted: the course's was put back and run")
            else:
                last = copies[-1]
                if len(copies) > 1:
                    lines.append(f"{what} '{gid}' appears {len(copies)} times: "
                                 "the course's cell was run once")
                if last.cell_type != rcell.cell_type or last.source.strip() != rcell.source.strip():
                    lines.append(f"{what} '{gid}' was edited: the course's was run")
                elif _meta(last) != meta:
                    lines.append(f"the grading metadata of {what} '{gid}' was edited "
                                 "(points or grading flags): the course's was used")
        else:
            same = by_id.get(rcell.get("id"))
            if rcell.cell_type == "code" and same is not None and \
                    same.source.strip() != rcell.source.strip():
                lines.append(f"the course's code cell {index} was edited: the course's was run")
        cells.append(new)
    added = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()
             and not _meta(c).get("grade_id") and c.get("id") not in released_ids]
    if added:
        # one pass over all of them: linear in their size, however many cells they are
        suspicious = sorted(integrity.suspicious("\n".join(nb.cells[i].source for i in added)))
        lines.append(f"{len(added)} code cell(s) added by the student (at {_positions(added)}) "
                     "were not run: only answer cells are graded"
                     + (f"; they {', '.join(suspicious)}" if suspicious else ""))
    order = [g for g in (_meta(c).get("grade_id") for c in nb.cells) if g in released_gids]
    seen = list(dict.fromkeys(order))
    if seen != [g for g in released_gids if g in seen]:
        lines.append("cells were moved: graded in the course's order")
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    wanted = release.metadata.get("kernelspec", {}).get("name")
    if kernel != wanted:
        lines.append(f"the notebook's kernel was changed to {kernel!r}: graded with {wanted!r}")
    if foreign:  # one line says it all
        found = [gid for gid in answers if gid in by_gid]
        lines = [f"only {present} of the {len(released_gids)} graded and locked cells of this "
                 "assignment are in the notebook: is it the notebook of another assignment? "
                 + (f"Answers graded: {', '.join(found)}" if found else "No answer was found")]
    out = copy.deepcopy(release)
    out.cells = cells
    return out, lines


def _positions(indexes: list[int]) -> str:
    shown = ", ".join(str(i) for i in indexes[:8])
    return ("cells " if len(indexes) > 1 else "cell ") + shown + (" ..." if len(indexes) > 8 else "")


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel in the sandbox of :mod:`grader.sandbox`: bubblewrap, a network of
    its own with the demo server, resource bounds; connected over ZMQ's ``ipc`` transport
    through a folder only this kernel sees."""

    sandbox = Bool(True, help="Run grading kernels under bubblewrap (see grader.sandbox). "
                   "False grades without isolation: the kernel can read and reach "
                   "everything the grader can.").tag(config=True)
    memory_limit = Integer(4 * 1024**3, help="Address space of a grading kernel, in bytes "
                           "(0: no limit).").tag(config=True)
    process_limit = Integer(128, help="Processes and threads a grading kernel may have "
                            "(0: no limit).").tag(config=True)
    file_size_limit = Integer(50 * 1024**2, help="Largest file a grading kernel may write, "
                              "in bytes (0: no limit).").tag(config=True)
    work_copy_limit = Integer(200 * 1024**2, help="Bytes of the submission's other files "
                              "copied into the kernel's private working folder.").tag(config=True)

    _top: str | None = None
    _cgroup: str = ""

    def _dirs(self) -> dict[str, str]:
        if self._top is None:
            self._top = kernel_folder()
        return {k: os.path.join(self._top, k)
                for k in ("conn", "tmp", "shm", "work", "state", "server")}

    async def _async_pre_start_kernel(self, **kw):
        dirs = self._dirs()
        if self.sandbox:
            why = sandbox.probe_cached()
            if why:
                raise RuntimeError(f"grading kernels cannot be sandboxed here: {why}")
            for d in dirs.values():
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d)
            self.transport = "ipc"
            self.ip = os.path.join(dirs["conn"], "kernel")
            self.connection_file = os.path.join(dirs["conn"], "kernel.json")
        else:
            os.makedirs(dirs["tmp"], exist_ok=True)
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        cwd = os.path.abspath(kw.get("cwd") or os.getcwd())
        self._cgroup = f"asyncio-course-{os.getpid()}-{Path(self._top).name}"
        launcher = [sys.executable, "-m", "grader.sandbox",
                    "--memory", str(self.memory_limit), "--procs", str(self.process_limit),
                    "--file-size", str(self.file_size_limit), "--cgroup", self._cgroup,
                    "--state", dirs["state"], "--parent", str(os.getpid())]
        env = dict(kw.get("env") or os.environ)
        if self.sandbox:  # MPLCONFIGDIR: see kernel_env()
            seed_font_cache(os.path.join(dirs["tmp"], ".matplotlib"), chown=os.getuid() == 0)
        else:
            seed_font_cache(dirs["tmp"], chown=False)
        # the launcher and the guard are this package: importable even if not installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [COURSE_CODE, env.get("PYTHONPATH")]))
        if not self.sandbox:
            for var in ("TMPDIR", "IPYTHONDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME",
                        "JUPYTER_RUNTIME_DIR"):
                env[var] = dirs["tmp"]
            kw["env"] = env
            return launcher + ["--no-sandbox", "--"] + list(kernel_cmd), kw
        copy_work_folder(cwd, dirs["work"], self.work_copy_limit, self.file_size_limit)
        sandbox.own([dirs[k] for k in ("conn", "tmp", "shm", "work")])
        if os.getuid() == 0:
            os.chown(self.connection_file, sandbox.SANDBOX_UID, sandbox.SANDBOX_GID)
        kw["env"] = env  # for the launcher; the kernel gets only kernel_env()
        reads = kernel_reads()
        args = sandbox.bwrap_args(work=dirs["work"], work_at=cwd, conn=dirs["conn"],
                                  tmp=dirs["tmp"], shm=dirs["shm"], read_only=reads,
                                  env=kernel_env(env), privileged=os.getuid() == 0)
        server = ["--demo-port", str(sandbox.DEMO_PORT), "--server-dir", dirs["server"]]
        for path in reads:
            server += ["--ro", path]
        return launcher + server + ["--"] + args + list(kernel_cmd), kw

    # -- what grading asks of the kernel's processes -----------------------------------

    def _init_pid(self) -> int | None:
        """Process 1 of the sandbox's pid namespace (bubblewrap's init), as seen here."""
        try:
            return int(Path(self._top, "state", "init.pid").read_text()) if self._top else None
        except (OSError, ValueError):
            return None

    def kernel_pid(self) -> int | None:
        """The kernel's process id, as the grader sees it."""
        if self.sandbox:
            init = self._init_pid()
            return sandbox.kernel_of(init) if init else None
        return getattr(self.provisioner, "pid", None)

    def processes(self) -> list[int]:
        """Processes the kernel started that still run (not the kernel itself)."""
        pid = self.kernel_pid()
        if not pid:
            return []
        if not self.sandbox:
            return [p for p in _same(pid, _group_of) if p != pid]
        return [p for p in _same(pid, _pid_namespace) if p not in (pid, self._init_pid())]

    def kill_kernel(self) -> None:
        """Kill the kernel and everything it started."""
        try:
            if self.sandbox:
                init = self._init_pid()
                if init:  # process 1 of the namespace: Linux kills all the rest with it
                    os.kill(init, signal.SIGKILL)
            else:
                pid = self.kernel_pid()
                if pid:
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
        except OSError:
            pass

    def kill_processes(self) -> int:
        """Kill what the kernel started (not the kernel); how many there were."""
        found = self.processes()
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return len(found)

    async def _async_kill_kernel(self, restart: bool = False) -> None:
        # the launcher's process group holds neither bubblewrap nor the kernel (each has a
        # session of its own): kill the kernel first, then the launcher
        self.kill_kernel()
        await super()._async_kill_kernel(restart=restart)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        remove_cgroup(self._cgroup)
        if not restart and self._top:
            shutil.rmtree(self._top, ignore_errors=True)
            self._top = None


SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (sockaddr_un.sun_path, less its NUL)
_SOCKET_NAME = os.path.join("conn", "kernel-99")  # what ZMQ's ipc transport adds to the folder


def kernel_folder() -> str:
    """A new private folder for one grading kernel: its sockets, /tmp, work folder.

    In the temporary folder (``TMPDIR``) if the kernel's socket paths fit there, else in the
    first of /tmp, /var/tmp and /dev/shm where they fit: ZMQ cannot bind a longer path, and a
    kernel that cannot bind never answers (a worker started in a deep folder would grade
    nothing). ``RuntimeError`` naming ``TMPDIR`` if none is short enough."""
    tried = []
    for where in (None, "/tmp", "/var/tmp", "/dev/shm"):
        if where is not None and not os.access(where, os.W_OK | os.X_OK):
            continue
        top = tempfile.mkdtemp(prefix="grading-kernel-", dir=where)
        if len(os.fsencode(os.path.join(top, _SOCKET_NAME))) <= SOCKET_PATH_MAX:
            return top
        os.rmdir(top)
        tried.append(os.path.dirname(top))
    raise RuntimeError(
        f"no temporary folder is short enough for a kernel's sockets (at most "
        f"{SOCKET_PATH_MAX - len(_SOCKET_NAME) - len('/grading-kernel-12345678/')} "
        f"characters; tried {', '.join(tried)}): set TMPDIR to a short folder")


def kernel_reads() -> list[str]:
    """What a sandboxed kernel may read: Python, the virtualenv, the course's packages
    (only ``asynclab`` and ``grader``, never the course folder that holds them), and other
    package folders on Python's path outside the course."""
    import asynclab

    course = os.path.realpath(COURSE_CODE)
    packages = [os.path.dirname(os.path.realpath(asynclab.__file__)),
                os.path.dirname(os.path.realpath(__file__))]
    others = [p for p in sys.path if p and os.path.isdir(p)
              and ("site-packages" in p or "dist-packages" in p)
              and not (os.path.realpath(p) + os.sep).startswith(course + os.sep)]
    return sandbox.python_paths() + packages + others


_FONT_CACHE: list[str] | None = None


def _font_lists() -> list[str]:
    """matplotlib's list of fonts for this Python, built once per machine (and again after
    matplotlib changes) into the grading user's cache, not a kernel's: no submission can
    change what another one's kernel reads. [] if it cannot be built."""
    global _FONT_CACHE
    if _FONT_CACHE is not None:
        return _FONT_CACHE
    _FONT_CACHE = []
    try:
        from importlib.metadata import version

        key = hashlib.sha256(f"{sys.executable} {version('matplotlib')}".encode()).hexdigest()
    except Exception:  # no matplotlib: each kernel does without, as before
        return _FONT_CACHE
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "asyncio-course")
    folder = cache / f"fonts-{key[:16]}"
    if not folder.is_dir():
        try:
            cache.mkdir(parents=True, exist_ok=True)
            building = tempfile.mkdtemp(prefix="fonts-", dir=cache)
            subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"],
                           env=dict(os.environ, MPLCONFIGDIR=building), timeout=120,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            try:
                os.rename(building, folder)
            except OSError:  # another grading process was quicker
                shutil.rmtree(building, ignore_errors=True)
        except (OSError, subprocess.SubprocessError):
            return _FONT_CACHE
    _FONT_CACHE = sorted(str(p) for p in folder.glob("fontlist*.json"))
    return _FONT_CACHE


def seed_font_cache(mplconfigdir: str, chown: bool) -> None:
    """Give a kernel a copy of matplotlib's list of fonts, so that its first plot does not
    build it (half a second per notebook, and a warning on stderr)."""
    fonts = _font_lists()
    if not fonts:
        return
    os.makedirs(mplconfigdir, exist_ok=True)
    for path in fonts:
        shutil.copy(path, mplconfigdir)
    if chown:  # the sandbox user's, as the rest of its /tmp
        for name in ["", *os.listdir(mplconfigdir)]:
            os.chown(os.path.join(mplconfigdir, name), sandbox.SANDBOX_UID, sandbox.SANDBOX_GID)


def kernel_env(env: dict[str, str]) -> dict[str, str]:
    """The kernel's environment: nothing of the grader's own (no tokens, no home)."""
    keep = {k: v for k, v in env.items()
            if k in ("LANG", "LANGUAGE", "TZ", "PYTHONPATH", "PYTHONHASHSEED",
                     # nbgrader's documented signal to notebooks that they are being graded
                     "NBGRADER_EXECUTION", "NBGRADER_VALIDATING")
            or k.startswith(("LC_", "JPY_SESSION"))}
    bin_dir = os.path.dirname(sys.executable)
    return dict(keep, PATH=f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", HOME="/tmp",
                TMPDIR="/tmp", IPYTHONDIR="/tmp/.ipython", MPLCONFIGDIR="/tmp/.matplotlib",
                XDG_CACHE_HOME="/tmp/.cache", JUPYTER_RUNTIME_DIR="/tmp/.jupyter",
                PYDEVD_DISABLE_FILE_VALIDATION="1",
                # the kernel is process 1 of its namespace: no parent to poll, and no
                # banner about Ctrl-C on its output
                JPY_PARENT_PID="1",
                ASYNCLAB_DEMO_SERVER=f"http://{sandbox.DEMO_HOST}:{sandbox.DEMO_PORT}",
                GRADER_SANDBOX="@GRADER_SANDBOX@")


def copy_work_folder(src: str, dest: str, limit: int, file_limit: int) -> None:
    """Copy the submission's other files (never a notebook: the graded one holds the
    hidden tests; never a link) into the kernel's private working folder."""
    budget = limit
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))
                       and d not in (".ipynb_checkpoints", "__pycache__")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if name.endswith(".ipynb") or os.path.islink(path) or not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            if size > file_limit or size > budget:
                continue
            budget -= size
            target = os.path.join(dest, rel, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(path, target, follow_symlinks=False)
            if os.getuid() == 0:
                os.chown(target, sandbox.SANDBOX_UID, sandbox.SANDBOX_GID)
    if os.getuid() == 0:
        for dirpath, dirnames, _ in os.walk(dest):
            for d in dirnames:
                os.chown(os.path.join(dirpath, d), sandbox.SANDBOX_UID, sandbox.SANDBOX_GID)


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _same(pid: int, key) -> list[int]:
    """Processes whose ``key`` (pid namespace, process group) is that of ``pid``."""
    want = key(pid)
    if want is None:
        return []
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and key(int(entry.name)) == want and \
                not _zombie(int(entry.name)):
            out.append(int(entry.name))
    return out


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


# system calls that tell what a stuck kernel's main thread is waiting in, per machine
_WAITING = {
    "x86_64": {232: "idle", 281: "idle", 441: "idle", 7: "idle", 271: "idle",
               35: "sleep", 230: "sleep", 23: "sleep", 270: "sleep", 202: "lock"},
    "aarch64": {22: "idle", 441: "idle", 73: "idle",
                101: "sleep", 115: "sleep", 72: "sleep", 98: "lock"},
}


class GuardedExecute(Execute):
    """nbgrader's Execute, hardened (see the module docstring)."""

    notebook_timeout = Float(300, help="Wall-clock seconds a whole notebook may run; cells "
                               "after that are not run and score 0.").tag(config=True)
    max_restarts = Integer(4, help="Kernel restarts per notebook after a hang or a crash "
                           "before the rest of the notebook is given up.").tag(config=True)
    output_limit = Integer(2_000_000, help="Characters of output kept per cell; the rest is "
                           "dropped.").tag(config=True)
    guard_timeout = Integer(15, help="Seconds to wait for the grading guard in the "
                            "kernel.").tag(config=True)
    max_stretch = Float(4, help="A cell's timeout counts the kernel's own time: the time "
                        "its main thread waited for a CPU (a busy machine) is added to it, "
                        "up to this many times the timeout on the clock.").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self.reports: list[str] = []
        self._deadline = None
        # per guard call: what it was, round trip, wall and CPU time in the kernel (ms)
        self._guard_costs: list[tuple[str, float, float | None, float | None]] = []
        self._guarded = 0
        self._answer_ran = False

    # -- the notebook ------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        self.reports = []
        self.sandbox_note = "unknown: the grading guard did not answer"
        self._deadline = None  # set when the kernel is ready: start-up time does not count
        self._restarts = 0
        self._gave_up: str | None = None
        self._skip: set[int] = set()  # cells that hung or crashed: not replayed
        self._retried: set[int] = set()  # tests run again in a fresh kernel
        # what went wrong in the last answer cell, and in any course cell, if anything did:
        # a test that then fails says so first ("NameError" alone hides the cause)
        self._broken_answer: tuple[str, str] | None = None
        self._broken_course: tuple[str, str] | None = None
        self._cell_chars = 0
        self._cut = False
        self._watch = (None, None, time.monotonic())
        self._waited0: float | None = None
        self._on_clock = 0.0  # seconds a cell that timed out ran on the clock
        self._cause = "a deadlock or a blocking call?"
        self._guard_costs: list[tuple[str, float, float | None, float | None]] = []
        self._guarded = 0
        self._answer_ran = False  # has an answer (or a test calling one) run since the last check?
        try:
            return super().preprocess(nb, resources, km)
        finally:
            cost = self._guard_cost()
            if resources is not None:
                for line in self.reports:
                    report(resources, line)
                resources.setdefault("nbgrader", {})[SANDBOX] = self.sandbox_note
                resources.setdefault("nbgrader", {})[GUARD_COST] = cost
            for line in self.reports:
                self.log.warning("%s", printable(line))
            if cost["calls"]:
                self.log.info("grading guard: %d cells guarded, %d calls, %.1f ms per call in "
                              "the kernel (%.1f ms of CPU; at most %.1f ms), %.2f s in all",
                              cost["cells"], cost["calls"], cost["kernel_ms_mean"],
                              cost["kernel_cpu_ms_mean"], cost["kernel_ms_max"], cost["seconds"])

    def _guard_cost(self) -> dict:
        """What the guard cost this notebook: calls, time in the kernel, round trips."""
        calls = [c for c in self._guard_costs if c[0] != "install()"]
        wall = [c[2] for c in calls if c[2] is not None]
        cpu = [c[3] for c in calls if c[3] is not None]
        trips = [c[1] for c in calls]
        install = [c[1] for c in self._guard_costs if c[0] == "install()"]

        def mean(values):
            return round(sum(values) / len(values), 2) if values else 0.0

        return {
            "cells": self._guarded,
            "calls": len(calls),
            "kernel_ms_mean": mean(wall),
            "kernel_ms_max": round(max(wall), 2) if wall else 0.0,
            "kernel_cpu_ms_mean": mean(cpu),
            "round_trip_ms_mean": mean(trips),
            "install_ms": round(sum(install), 1),
            "seconds": round((sum(trips) + sum(install)) / 1000, 3),
        }

    async def async_start_new_kernel_client(self):
        for attempt in range(3):
            try:
                kc = await super().async_start_new_kernel_client()
                break
            except RuntimeError as exc:
                # Kernels pick free ports before they bind them; when many start at once,
                # another process can take one first and the kernel dies at start-up.
                if "died" not in str(exc) or attempt == 2:
                    raise
                self.log.warning("A kernel died while starting (%s); starting another", exc)
                self.km = self.create_kernel_manager()  # nbclient cleaned up the dead one
                await self.async_start_new_kernel()
        if self._deadline is None and self.notebook_timeout:
            self._deadline = time.monotonic() + self.notebook_timeout
        answer = await self._ask("install()")
        if answer is None:
            self.reports.append("the grading guard could not be installed in the kernel")
        else:
            self.sandbox_note = answer
            if answer != "sandboxed" and not answer.startswith("no sandbox (--no-sandbox)"):
                note = f"kernel sandbox: {answer}"
                if note not in self.reports:
                    self.reports.append(note)
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def _ask(self, call: str, timeout: float | None = None):
        """Evaluate a guard call in the kernel, outside of IPython's cell machinery."""
        if self.kc is None:
            return None
        start = time.perf_counter()
        msg_id = await ensure_async(self.kc.execute(
            "", silent=True, store_history=False, user_expressions={"r": expression(call)}))
        reply = await self._reply(msg_id, timeout or self.guard_timeout)
        trip = (time.perf_counter() - start) * 1000
        if reply is None or reply["content"].get("status") != "ok":
            return None
        value = reply["content"].get("user_expressions", {}).get("r", {})
        if value.get("status") != "ok":
            return None
        try:
            text = ast.literal_eval(value["data"]["text/plain"])
            answer = json.loads(text) if text[:1] in "{[" else text
        except (ValueError, SyntaxError, KeyError, TypeError):
            return None
        wall, cpu = (answer.get("ms"), answer.get("cpu_ms")) if isinstance(answer, dict) \
            else (None, None)
        self._guard_costs.append((call.split("(")[0] + "()", trip,
                                  wall if isinstance(wall, int | float) else None,
                                  cpu if isinstance(cpu, int | float) else None))
        if isinstance(answer, dict) and answer.get("error"):
            self.reports.append(f"{answer['error']} (during {call.split('(')[0]})")
            return None  # a guard that failed cannot vouch for anything
        return answer

    async def _reply(self, msg_id: str, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=remaining))
            except Empty:
                return None
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    # -- one cell ----------------------------------------------------------------------

    def process_message(self, msg, cell, cell_index):
        kind = msg.get("msg_type")
        if kind in ("stream", "display_data", "execute_result", "update_display_data"):
            content = msg.get("content", {})
            size = len(content.get("text", "")) if kind == "stream" else \
                sum(len(str(v)) for v in content.get("data", {}).values())
            self._cell_chars += size
            if self._cell_chars > self.output_limit:
                if not self._cut:
                    self._cut = True
                    self.reports.append(f"cell {self._name} printed more than "
                                        f"{self.output_limit:,} characters: the rest was dropped")
                    cell.outputs.append(NotebookNode(
                        output_type="stream", name="stdout",
                        text=f"\n[output cut: more than {self.output_limit:,} characters]\n"))
                return None
        return super().process_message(msg, cell, cell_index)

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count,
                                                    store_history)
        meta = _meta(cell)
        is_test = bool(meta.get("grade"))
        name = f"'{meta['grade_id']}'" if meta.get("grade_id") else f"{cell_index}"
        self._cell_chars, self._cut, self._name = 0, False, name
        if self._gave_up or (self._deadline and time.monotonic() > self._deadline):
            if not self._gave_up:
                self._gave_up = f"the notebook ran past its {self.notebook_timeout:g} s limit"
                self.reports.append(f"{self._gave_up}: cells from {name} on were not run")
            cell.outputs = [error_output("NotRun", f"not run: {self._gave_up}")] if is_test else []
            return cell
        token = original = None
        if not is_test and not meta.get("solution") and self._answer_ran:
            # the course's own code runs clean too (if only course code ran since the last
            # check, there is nothing to undo)
            self._guarded += 1
            before = await self._ask("before_test()")
            if before:
                self._report_before(before, f"the course's cell {name}")
        self._answer_ran = bool(meta.get("solution")) or is_test
        if is_test:
            self._guarded += 1
            before = await self._ask("before_test()")
            if before is None:
                await self._recover(cell_index, f"the grading guard did not answer before test {name}")
                before = await self._ask("before_test()") if not self._gave_up else None
            if before is None:
                cell.outputs = [error_output("GradingGuardError", "the grading guard did not "
                                             "answer, so this test cannot be trusted")]
                return cell
            self._report_before(before, f"test {name}")
            token = secrets.token_hex(16)
            original = cell.source
            cell.source = original.rstrip() + "\n" + expression(f"passed({token!r})") + "\n"
        if is_test:
            self._stop_processes(f"before test {name}")
        pid = self._kernel_pid()
        self._watch = (pid, _cpu(pid), time.monotonic())
        self._waited0 = _waited_for_cpu(pid)
        self._cause = "a deadlock or a blocking call?"
        self._killed = None
        watchdog = asyncio.ensure_future(self._watch_processes())
        try:
            await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            self._stop_processes(f"cell {name}")
        except DeadKernelError:
            why = self._killed or ("it crashed, exited, or used too much memory")
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
            cell.outputs.append(error_output(
                "DeadKernelError", f"the kernel was stopped while running this cell: {why}"))
            self.reports.append(f"the kernel died in cell {name} ({why}): it scores 0, the "
                                "kernel was restarted and the rest was graded")
            self._skip.add(cell_index)
            self._broke(meta, name, f"stopped the kernel ({why}), so this test could not pass")
            await self._recover(cell_index, f"the kernel died in cell {name}")
            return cell
        except CellTimeoutError:  # interrupted, but the kernel never came back
            stuck = True
        else:
            stuck = False
        finally:
            watchdog.cancel()
            if original is not None:
                cell.source = original
        if stuck or any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
            why = f"did not finish in {self.timeout} s ({self._cause})"
            if self._on_clock > self.timeout * 1.5:
                why = (f"did not finish in {self.timeout} s of its own time ({self._cause} "
                       f"{self._on_clock:.0f} s on the clock: it also waited for a CPU)")
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
            cell.outputs.append(error_output("CellTimeoutError", why))
            self.reports.append(f"cell {name} {why}: it scores 0 and the rest was graded")
            self._skip.add(cell_index)
            self._broke(meta, name, f"{why}, so this test could not pass")
            if stuck or await self._ask("ping()", timeout=5) is None:
                await self._recover(cell_index, f"cell {name} hung")
            return cell
        if is_test:
            after = await self._ask(f"after_test({token!r})")
            if after is None and cell_index not in self._retried and not self._gave_up \
                    and await self._ask("ping()", timeout=5) is None:
                # the kernel stopped answering: not the answer's fault as far as we can tell
                # (a hang of the test itself is a timeout above); once, a fresh kernel
                self._retried.add(cell_index)
                self.reports.append(f"the kernel stopped answering after test {name}: it "
                                    "was restarted and the test run again")
                await self._recover(cell_index, f"the kernel stopped answering after test {name}")
                if not self._gave_up:
                    cell.outputs = []
                    return await self.async_execute_cell(cell, cell_index, execution_count,
                                                         store_history)
            self._judge(cell, name, after)
            return cell
        if meta.get("solution"):
            # an answer that stops at an error (not the stub's NotImplementedError: the
            # tests say "not answered yet" for that); a course cell that raises is left out:
            # a demo may call an answer that is wrong
            raised = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"
                           and o.get("ename") != "NotImplementedError"), None)
            self._broken_answer = None
            if raised is not None:
                value = str(raised.get("evalue", "")).strip()
                self._broke(meta, name, "stopped at an error (" + printable(
                    f"{raised.get('ename', 'Error')}: {value}" if value else
                    str(raised.get("ename", "Error")))[:300] + "): fix that first")
        else:
            await self._ask("course_cell_done()")
        return cell

    def _broke(self, meta: dict, name: str, what: str) -> None:
        """Remember that the answer cell ``name`` went wrong, or that the course cell
        ``name`` hung or stopped the kernel: ``what`` is said before a test that then fails."""
        if meta.get("solution"):
            self._broken_answer = (name, what)
        elif meta.get("grade"):  # a test: its own outcome says it
            return
        elif self._broken_course is None:  # the first one: the rest may follow from it
            self._broken_course = (name, what)

    execute_cell = run_sync(async_execute_cell)

    def _report_before(self, before: dict, what: str) -> None:
        """Say what the guard undid and stopped before ``what``."""
        if before.get("restored"):
            self.reports.append(f"before {what}, the grader undid changes the answers made "
                                f"to: {', '.join(before['restored'][:8])}")
        for thing in before.get("stopped", []):
            self.reports.append(f"before {what}, the grader stopped what the answers left "
                                f"running: {thing}")
        for thread in before.get("alive", []):
            self.reports.append(f"before {what}, what the answers left running could not be "
                                f"stopped: {thread}")

    def _judge(self, cell, name: str, after: dict | None) -> None:
        """Score the test ``name`` from what the guard said after it (None: nothing)."""
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        for thing in (after or {}).get("stopped", []):
            self.reports.append(f"after test {name}, the grader stopped what the answers left "
                                f"running: {thing}")
        if after is None:
            why = "the grading guard did not answer after the test, so it cannot be trusted"
        elif after.get("alive"):  # the cause first: what it changed comes from it
            why = ("a thread started by the answers was still running and could not be "
                   "stopped, so the test cannot be trusted: " + "; ".join(after["alive"][:4])
                   + ("; while the test ran, it changed: " + ", ".join(after["changed"][:8])
                      if after["changed"] else ""))
        elif after["changed"]:
            why = ("while the test ran, the answer changed what the test relies on: "
                   + ", ".join(after["changed"][:8]))
        elif not after["passed"] and not errors:
            why = "the test did not run to its end (something cut it short), so it cannot pass"
        else:
            why = None
        if why:
            self.reports.append(f"test {name} scores 0: {why}")
            cell.outputs.append(error_output("GradingGuardError", why))
            return
        if errors:
            # say why first: "NameError" alone hides the cause
            for ename, who, broken in (
                    ("AnswerDidNotRun", "the answer cell", self._broken_answer),
                    ("CourseCellDidNotRun", "the course's cell", self._broken_course)):
                if broken:
                    where, what = broken
                    cell.outputs.insert(0, error_output(ename, f"{who} {where} {what}"))
            return
        for o in cell.outputs:  # passed: a warning on stderr does not cost the points
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                o["name"] = "stdout"
                first = "".join(o.get("text", "")).strip().splitlines()[:1]
                self.reports.append(f"test {name} passed and kept its points although the code "
                                    f"wrote to stderr: {first[0][:200] if first else ''}")

    # -- hangs and crashes -------------------------------------------------------------

    def _kernel_pid(self) -> int | None:
        find = getattr(self.km, "kernel_pid", None)
        return find() if find else getattr(getattr(self.km, "provisioner", None), "pid", None)

    def _stop_processes(self, where: str) -> None:
        """Processes an answer started must not outlive its cell: they could act on the
        kernel while a test runs. They are stopped and reported."""
        kill = getattr(self.km, "kill_processes", None)
        count = kill() if kill else 0
        if count:
            self.reports.append(f"{where} left {count} process(es) running: they were "
                                "stopped")

    async def _watch_processes(self) -> None:
        """Kill the kernel and all it started if it starts too many processes."""
        limit = getattr(self.km, "process_limit", 128) or 128
        find = getattr(self.km, "processes", None)
        while find is not None:
            await asyncio.sleep(0.2)
            if len(find()) > limit:
                self._kill(f"it started more than {limit} processes (a fork bomb?)")
                return

    def _kill(self, why: str) -> None:
        self._killed = why
        kill = getattr(self.km, "kill_kernel", None)
        if kill is not None:
            kill()

    async def _async_handle_timeout(self, timeout, cell=None):
        """Called when ``timeout`` seconds passed on the clock: wait on for as long as the
        kernel waited for a CPU meanwhile (up to ``max_stretch`` times the timeout), then
        interrupt it."""
        pid, _, start = self._watch
        latest = start + timeout * max(1.0, self.max_stretch)
        while self.kc is not None:
            now = time.monotonic()
            waited = _waited_for_cpu(pid)
            extra = waited - self._waited0 if None not in (waited, self._waited0) else 0.0
            left = min(start + timeout + extra, latest) - now
            if left <= 0:
                self._on_clock = now - start
                break
            if await self.kc.shell_channel.socket.poll(timeout=int(min(left, 1.0) * 1000) + 1):
                return None  # the reply (or another message) came: nbclient reads it
            await self._async_check_alive()
        self._cause = _likely_cause(*self._watch)  # before the interrupt changes it
        return await super()._async_handle_timeout(timeout, cell)

    async def _recover(self, upto: int, why: str) -> None:
        """Restart the kernel and replay the cells before ``upto`` (not the tests)."""
        self._restarts += 1
        if self._restarts > self.max_restarts:
            self._gave_up = f"{why}, and the kernel had been restarted {self.max_restarts} times"
            self.reports.append(f"{self._gave_up}: the rest of the notebook was not run")
            return
        try:
            if self.kc is not None:
                self.kc.stop_channels()
                self.kc = None
            await ensure_async(self.km.restart_kernel(now=True))
            await self.async_start_new_kernel_client()
            for index, cell in enumerate(self.nb.cells[:upto]):
                if cell.cell_type != "code" or not cell.source.strip() or index in self._skip \
                        or _meta(cell).get("grade"):
                    continue
                course_cell = not _meta(cell).get("solution")
                if course_cell:  # it starts clean, as in the first run (said then already)
                    await self._ask("before_test()")
                msg_id = await ensure_async(self.kc.execute(cell.source, silent=True,
                                                            store_history=False))
                if await self._reply(msg_id, (self.timeout or 60) * max(1.0, self.max_stretch)) \
                        is None:
                    raise TimeoutError(f"replaying cell {index} did not finish")
                if course_cell:
                    await self._ask("course_cell_done()")
        except Exception as exc:
            self._gave_up = f"{why}, and the kernel could not be restarted ({exc})"
            self.reports.append(f"{self._gave_up}: the rest of the notebook was not run")


def _schedstat(pid, tid) -> tuple[float, float]:
    """Seconds the thread ``tid`` of ``pid`` has been running, and ready to run but waiting
    for a CPU (Linux's scheduler statistics)."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        running, waiting = f.read().split()[:2]
    return int(running) / 1e9, int(waiting) / 1e9


def _cpu(pid) -> float | None:
    """Seconds the kernel's threads have been running *or ready to run* (waiting for a CPU),
    added up: in an endless loop the thread holding the interpreter lock is always one or
    the other, however busy the machine is."""
    try:
        return sum(sum(_schedstat(pid, task.name)) for task in os.scandir(f"/proc/{pid}/task"))
    except (OSError, ValueError, TypeError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def _waited_for_cpu(pid) -> float | None:
    """Seconds the kernel's main thread (the one running the cells) has been ready to run
    but waiting for a CPU, taken by other processes."""
    try:
        return _schedstat(pid, pid)[1]
    except (OSError, ValueError, TypeError):
        return None


def _likely_cause(pid, cpu0, t0) -> str:
    """Why a cell is stuck, from how the kernel's threads spent the time and what its main
    thread waits in now."""
    cpu1 = _cpu(pid)
    if cpu0 is not None and cpu1 is not None and \
            (cpu1 - cpu0) > 0.5 * (time.monotonic() - t0):
        return "an endless loop?"
    try:
        with open(f"/proc/{pid}/syscall") as f:
            number = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        number = -1
    waiting = _WAITING.get(os.uname().machine, {}).get(number)
    if waiting == "sleep":
        return "a blocking call such as time.sleep?"
    if waiting == "lock":
        return "a blocking call waiting for a lock or a thread?"
    if waiting == "idle":
        return "a deadlock: awaiting something that never happens?"
    return "a deadlock or a blocking call?"
