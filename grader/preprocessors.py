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
- before each test cell, undoes tampering with IPython, the clock, ``asyncio`` and
  ``asynclab`` (:mod:`grader.kernel_guard`); a test counts only if it reaches its last line
  and nothing protected changed while it ran (fail-closed);
- a test that passes keeps its points even if the code under test wrote a warning to
  stderr (nbgrader alone would score it 0); a failing test never gets points;
- a cell that runs past the timeout, or kills the kernel, costs that cell: the kernel is
  interrupted, or restarted and the cells before replayed, and grading goes on; the report
  names the likely cause; a whole notebook has a wall-clock bound too;
- output beyond a limit per cell is dropped (a 100 MB print cannot flood the grader).
"""

from __future__ import annotations

import ast
import asyncio
import copy
import json
import os
import secrets
import shutil
import signal
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
from traitlets import Float, Integer

from . import integrity
from .kernel_guard import expression
from .sandbox import remove_cgroup

REPORTS = "integrity"
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
            self.log.warning("%s", line)
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
    """Starts the kernel through :func:`main`, with a private temporary folder."""

    memory_limit = Integer(4 * 1024**3, help="Address space of a grading kernel, in bytes "
                           "(0: no limit).").tag(config=True)
    process_limit = Integer(128, help="Processes and threads a grading kernel may have "
                            "(0: no limit).").tag(config=True)
    file_size_limit = Integer(50 * 1024**2, help="Largest file a grading kernel may write, "
                              "in bytes (0: no limit).").tag(config=True)

    _tmp: str | None = None
    _cgroup: str = ""

    async def _async_pre_start_kernel(self, **kw):
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        cwd = kw.get("cwd") or os.getcwd()
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="grading-kernel-")
        self._cgroup = f"asyncio-course-{os.getpid()}-{Path(self._tmp).name}"
        env = dict(kw.get("env") or os.environ)
        for var in ("TMPDIR", "IPYTHONDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME",
                    "JUPYTER_RUNTIME_DIR"):
            env[var] = self._tmp
        # the launcher and the guard are this package: importable even if not installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [COURSE_CODE, env.get("PYTHONPATH")]))
        kw["env"] = env
        wrapper = [sys.executable, "-m", "grader.sandbox", "--write", cwd, "--write", self._tmp,
                   "--write", "/dev/shm", "--memory", str(self.memory_limit),
                   "--procs", str(self.process_limit), "--file-size", str(self.file_size_limit),
                   "--cgroup", self._cgroup, "--"]
        return wrapper + list(kernel_cmd), kw

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            remove_cgroup(self._cgroup)
            if self._tmp:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None


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

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self.reports: list[str] = []
        self._deadline = None

    # -- the notebook ------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        self.reports = []
        self._deadline = None  # set when the kernel is ready: start-up time does not count
        self._restarts = 0
        self._gave_up: str | None = None
        self._skip: set[int] = set()  # cells that hung or crashed: not replayed
        self._broken_answer: tuple[str, str] | None = None  # the last answer cell, if it hung
        self._cell_chars = 0
        self._cut = False
        self._watch = (None, None, time.monotonic())
        self._cause = "a deadlock or a blocking call?"
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if resources is not None:
                for line in self.reports:
                    report(resources, line)
            for line in self.reports:
                self.log.warning("%s", line)

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
        elif answer != "bounded":
            note = f"kernel sandbox: {answer}"
            if note not in self.reports:
                self.reports.append(note)
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def _ask(self, call: str, timeout: float | None = None):
        """Evaluate a guard call in the kernel, outside of IPython's cell machinery."""
        if self.kc is None:
            return None
        msg_id = await ensure_async(self.kc.execute(
            "", silent=True, store_history=False, user_expressions={"r": expression(call)}))
        reply = await self._reply(msg_id, timeout or self.guard_timeout)
        if reply is None or reply["content"].get("status") != "ok":
            return None
        value = reply["content"].get("user_expressions", {}).get("r", {})
        if value.get("status") != "ok":
            return None
        try:
            text = ast.literal_eval(value["data"]["text/plain"])
            return json.loads(text) if text[:1] in "{[" else text
        except (ValueError, SyntaxError, KeyError, TypeError):
            return None

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
        if not is_test and not meta.get("solution"):  # the course's own code runs clean too
            before = await self._ask("before_test()")
            if before and before["restored"]:
                self.reports.append(f"before the course's cell {name}, the grader undid changes "
                                    f"the answers made to: {', '.join(before['restored'][:8])}")
        if is_test:
            before = await self._ask("before_test()")
            if before is None:
                await self._recover(cell_index, f"the grading guard did not answer before test {name}")
                before = await self._ask("before_test()") if not self._gave_up else None
            if before is None:
                cell.outputs = [error_output("GradingGuardError", "the grading guard did not "
                                             "answer, so this test cannot be trusted")]
                return cell
            if before["restored"]:
                self.reports.append(f"before test {name}, the grader undid changes the answers "
                                    f"made to: {', '.join(before['restored'][:8])}")
            token = secrets.token_hex(16)
            original = cell.source
            cell.source = original.rstrip() + "\n" + expression(f"passed({token!r})") + "\n"
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        self._watch = (pid, _cpu(pid), time.monotonic())
        self._cause = "a deadlock or a blocking call?"
        self._killed = None
        watchdog = asyncio.ensure_future(self._watch_processes(pid))
        try:
            await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            if meta.get("solution") and _group_size(pid) > 4:  # left processes behind
                self._kill(pid, "it left processes running")
                raise DeadKernelError("processes left behind")
        except DeadKernelError:
            why = self._killed or ("it crashed, exited, or used too much memory")
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
            cell.outputs.append(error_output(
                "DeadKernelError", f"the kernel was stopped while running this cell: {why}"))
            self.reports.append(f"the kernel died in cell {name} ({why}): it scores 0, the "
                                "kernel was restarted and the rest was graded")
            self._skip.add(cell_index)
            if meta.get("solution"):
                self._broken_answer = (name, f"stopped the kernel ({why})")
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
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
            cell.outputs.append(error_output("CellTimeoutError", why))
            self.reports.append(f"cell {name} {why}: it scores 0 and the rest was graded")
            self._skip.add(cell_index)
            if meta.get("solution"):
                self._broken_answer = (name, why)
            if stuck or await self._ask("course_cell_done()", timeout=5) is None:
                await self._recover(cell_index, f"cell {name} hung")
            return cell
        if is_test:
            await self._judge(cell, name, token)
        elif meta.get("solution"):
            self._broken_answer = None
        else:
            await self._ask("course_cell_done()")
        return cell

    execute_cell = run_sync(async_execute_cell)

    async def _judge(self, cell, name: str, token: str) -> None:
        after = await self._ask(f"after_test({token!r})")
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if after is None:
            why = "the grading guard did not answer after the test, so it cannot be trusted"
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
            if self._broken_answer:  # say why first: "NameError" alone hides the cause
                answer, what = self._broken_answer
                cell.outputs.insert(0, error_output(
                    "AnswerDidNotRun", f"the answer cell {answer} {what}, so this test "
                    "could not pass"))
            return
        for o in cell.outputs:  # passed: a warning on stderr does not cost the points
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                o["name"] = "stdout"
                first = "".join(o.get("text", "")).strip().splitlines()[:1]
                self.reports.append(f"test {name} passed and kept its points although the code "
                                    f"wrote to stderr: {first[0][:200] if first else ''}")

    # -- hangs and crashes -------------------------------------------------------------

    async def _watch_processes(self, pid) -> None:
        """Kill the kernel's whole process group if it starts too many processes."""
        limit = getattr(self.km, "process_limit", 128) or 128
        while pid:
            await asyncio.sleep(0.2)
            if _group_size(pid) > limit:
                self._kill(pid, f"it started more than {limit} processes (a fork bomb?)")
                return

    def _kill(self, pid, why: str) -> None:
        self._killed = why
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except OSError:
            pass

    async def _async_handle_timeout(self, timeout, cell=None):
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
                msg_id = await ensure_async(self.kc.execute(cell.source, silent=True,
                                                            store_history=False))
                if await self._reply(msg_id, self.timeout or 60) is None:
                    raise TimeoutError(f"replaying cell {index} did not finish")
                if not _meta(cell).get("solution"):
                    await self._ask("course_cell_done()")
        except Exception as exc:
            self._gave_up = f"{why}, and the kernel could not be restarted ({exc})"
            self.reports.append(f"{self._gave_up}: the rest of the notebook was not run")


def _group_size(pid) -> int:
    """Processes in the process group of ``pid`` (the kernel and what it started)."""
    try:
        group = os.getpgid(pid)
    except (OSError, TypeError):
        return 0
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    if int(f.read().rsplit(b")", 1)[1].split()[2]) == group:
                        count += 1
            except (OSError, ValueError, IndexError):
                continue
    return count


def _cpu(pid) -> float | None:
    """Seconds the kernel's threads have been running *or ready to run* (waiting for a CPU),
    added up: in an endless loop the thread holding the interpreter lock is always one or
    the other, however busy the machine is."""
    try:
        total = 0
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/schedstat") as f:
                running, waiting = f.read().split()[:2]
            total += int(running) + int(waiting)
        return total / 1e9
    except (OSError, ValueError, TypeError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
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
