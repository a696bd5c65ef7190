"""Real-browser tests: JupyterLab as a student sees it, driven by Playwright and Chromium.

JupyterLab is started the way ``make lab`` starts it (root dir, default URL) but on a free
127.0.0.1 port, with its own token and ``--no-browser``, inside a temporary copy of the
course, so the tests never write into the repository. Its Jupyter config, data and runtime
folders are temporary too (the nbgrader and widget extensions still come from the
environment's ``etc/jupyter`` and ``share/jupyter``), and so is nbgrader's exchange.
Everything that would reach the internet is off, and the page may only load from the server.

One Chromium page loads JupyterLab once and the browser tests work in it one after another,
like a student who opens notebook after notebook. The server and the browser are made by
the first browser test and closed after the last one of the row (``BrowserSession``).

Chromium is Debian's (``/usr/bin/chromium``, or ``$CHROMIUM``); Playwright never downloads
a browser. Without Chromium the tests are skipped, unless ``BROWSER_TESTS=required`` (set
by ``.ci/run``), which makes that a failure. ``$BROWSER_COURSE`` tests another course
folder instead of the repository (it is copied too).

Every test leaves a screenshot in ``test-artifacts/browser/`` (or ``$BROWSER_ARTIFACTS``);
a failing test takes it at the moment it fails and prints its path, with the browser's
console errors and the end of the JupyterLab log (kept in ``jupyterlab.log`` there).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from grader import course

ROOT = course.ROOT
# The course under test: the repository, or another course folder (e.g. a copy with a
# change to try out) given by $BROWSER_COURSE. The tests work on a temporary copy of it.
COURSE = Path(os.environ.get("BROWSER_COURSE") or ROOT).resolve()
ENVIRONMENT_AT_START = dict(os.environ)  # this conftest is imported before the test modules
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS") or ROOT / "test-artifacts" / "browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# JupyterLab features that would reach out to the internet: all off.
NO_INTERNET = [
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.news_url=None",
    "--LabApp.extension_manager=readonly",
]
VIEWPORT = {"width": 1400, "height": 900}
STARTUP_TIMEOUT = 90  # s for JupyterLab to answer /api/status
RUN_TIMEOUT = 150  # s for a notebook's cells up to the first exercise (nbgrader allows 60 per cell)
VALIDATE_TIMEOUT = 150  # s for the Validate button's answer (the server runs the whole notebook)
WIDGET_SCRATCH = "browser-checks/explorer.ipynb"
SOLVED_DIR = "browser-checks/solved"

# ------------------------------------------------------------------ the student notebooks


def student_notebooks(root: Path = COURSE) -> list[Path]:
    """Every student notebook present now: ``notebooks/NN_topic/NN_topic.ipynb``."""
    release = Path(root) / course.RELEASE
    if not release.is_dir():
        return []
    return sorted(
        p for p in release.glob("*/*.ipynb")
        if course.ASSIGNMENT_RE.match(p.parent.name) and p.stem == p.parent.name
    )


def pytest_configure(config):
    # The browser tests share one JupyterLab, so under pytest-xdist they all go to one
    # worker (xdist_group). Without xdist the mark means nothing: register it anyway.
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")


def pytest_generate_tests(metafunc):
    """``assignment`` is parametrized over the student notebooks found at collection time."""
    if "assignment" in metafunc.fixturenames:
        ids = [p.parent.name for p in student_notebooks()]
        metafunc.parametrize("assignment", ids or [pytest.param(None, marks=pytest.mark.skip(
            reason="no student notebooks in notebooks/"))], ids=ids or ["none"])


def first_exercise(nb) -> int:
    """Index of the cell where the first exercise starts: the markdown cell whose nbgrader
    grade_id is ``ex1_text`` ("## Exercise 1"), or the first solution cell if that comes
    first (or there is no such heading)."""
    for i, cell in enumerate(nb.cells):
        meta = course.nbgrader_meta(cell)
        if meta.get("grade_id") == "ex1_text" or meta.get("solution"):
            return i
    raise AssertionError("the notebook has no exercise (no ex1_text cell, no solution cell)")


def _python(source: str) -> ast.Module | None:
    """The cell as Python (IPython syntax such as %magics translated), or None."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        code = TransformerManager().transform_cell(source)
        return compile(code, "<cell>", "exec",
                       flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        return None


def _top_level(tree: ast.AST):
    """Nodes that run when the cell runs (not inside a def, lambda or class)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        yield child
        yield from _top_level(child)


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
    return None


@dataclass
class CellFacts:
    """What a code cell before the first exercise must show once it has run."""

    index: int  # position in the notebook (0-based)
    first_line: str
    top_level_await: bool = False  # uses await / async with / async for outside a def
    picture: bool = False  # its last line shows a timeline or a chart
    printed: list[str] = field(default_factory=list)  # print("literal") at top level


def notebook_facts(nb, stop: int) -> list[CellFacts]:
    """Facts about the code cells before cell ``stop``, read from the notebook's source."""
    trees = {i: _python(c.source) for i, c in enumerate(nb.cells[:stop]) if c.cell_type == "code"}
    timelines = set()  # names bound to Timeline(...) anywhere above the exercise
    for tree in trees.values():
        for node in ast.walk(tree or ast.Module(body=[], type_ignores=[])):
            if isinstance(node, ast.Assign):
                pairs = []
                for target in node.targets:
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        pairs += zip(target.elts, node.value.elts, strict=False)
                    else:
                        pairs.append((target, node.value))
                for name, value in pairs:
                    if isinstance(name, ast.Name) and _call_name(value) == "Timeline":
                        timelines.add(name.id)
    facts = []
    for i, tree in trees.items():
        source = nb.cells[i].source
        lines = [line for line in source.splitlines() if line.strip()]
        fact = CellFacts(i, lines[0] if lines else "")
        if tree is not None and tree.body:
            fact.top_level_await = any(
                isinstance(n, ast.Await | ast.AsyncWith | ast.AsyncFor) for n in _top_level(tree)
            )
            last = tree.body[-1]
            if isinstance(last, ast.Expr) and not source.rstrip().endswith(";"):
                value = last.value.value if isinstance(last.value, ast.Await) else last.value
                fact.picture = (
                    _call_name(value) in ("compare", "plot")
                    or (isinstance(value, ast.Name) and value.id in timelines)
                    or (_call_name(value) == "show" and isinstance(value.func, ast.Attribute)
                        and isinstance(value.func.value, ast.Name) and value.func.value.id == "plt")
                )
            for stmt in tree.body:
                call = stmt.value if isinstance(stmt, ast.Expr) else None
                if (_call_name(call) == "print" and isinstance(call.func, ast.Name)
                        and len(call.args) == 1 and not call.keywords
                        and isinstance(call.args[0], ast.Constant)
                        and isinstance(call.args[0].value, str)):
                    fact.printed.append(call.args[0].value.strip())
        facts.append(fact)
    return facts


# ------------------------------------------------------------------ JupyterLab server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter() -> list[str]:
    """The environment's ``jupyter`` (``make lab`` runs ``.venv/bin/jupyter``)."""
    exe = Path(sys.executable).parent / "jupyter"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "jupyter"]


RELEASE_SCRIPT = """
import sys
from nbgrader.apps.api import NbGraderAPI
from nbgrader.apps.baseapp import NbGrader

app = NbGrader()
app.load_config_file()  # the course's nbgrader_config.py and the test's exchange setting
api = NbGraderAPI(config=app.config)
for aid in sys.argv[1:]:
    result = api.release_assignment(aid)
    if not result["success"]:
        sys.exit(f"release_assignment {aid} failed: {result.get('error')}{result.get('log')}")
"""


class LabServer:
    """JupyterLab on a temporary copy of the course."""

    def __init__(self, base: Path):
        self.base = base
        self.root = course.copy_course(base / "course", root=COURSE)
        self.assignments = [p.parent.name for p in student_notebooks(self.root)]
        self.token = os.urandom(16).hex()
        self.log_path = base / "jupyterlab.log"
        self.exchange = base / "exchange"
        self.env = self._environment()
        self._write_scratch_notebooks()
        self.proc: subprocess.Popen | None = None
        self._terminating = False
        self.port = 0
        self.releasing: subprocess.Popen | None = None

    def release_to_exchange(self) -> None:
        """Release the student notebooks to the exchange, so that the Assignments panel and
        the formgrader show them as released (in the background: see ``wait_released``)."""
        self.releasing = subprocess.Popen(
            [sys.executable, "-c", RELEASE_SCRIPT, *self.assignments], cwd=self.root,
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def _environment(self) -> dict[str, str]:
        config, data, runtime = (self.base / "jupyter" / d for d in ("config", "data", "runtime"))
        for d in (config, data, runtime):
            d.mkdir(parents=True)
        self.exchange.mkdir(mode=0o777)
        os.chmod(self.exchange, 0o777)  # nbgrader wants a world-writable exchange
        # nbgrader reads nbgrader_config.py from the Jupyter config path as well as from the
        # course root: keep its exchange inside the temporary folder, not /srv/nbgrader.
        (config / "nbgrader_config.py").write_text(
            f"c = get_config()  # noqa: F821\nc.Exchange.root = {str(self.exchange)!r}\n")
        # No "get news from jupyter.org?" prompt, no update check.
        settings = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        # The environment as this process started, not as other test modules left it (some
        # set MPLBACKEND=Agg when imported: kernels would then draw no inline pictures).
        env = dict(ENVIRONMENT_AT_START)
        for name in ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
            env.pop(name, None)
        # The environment's scripts first on PATH: nbgrader starts alembic and jupyter by name.
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(data),
                   JUPYTER_RUNTIME_DIR=str(runtime), PYTHONUNBUFFERED="1")
        return env

    def _write_scratch_notebooks(self) -> None:
        """A notebook with the ConcurrencyExplorer, and a solved copy of every release."""
        scratch = nbformat.v4.new_notebook()
        scratch.metadata["kernelspec"] = {
            "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        scratch.cells = [nbformat.v4.new_code_cell(
            "from asynclab.widgets import ConcurrencyExplorer\n\n"
            "explorer = ConcurrencyExplorer(requests=6, limit=2, delay=0.05)\n"
            "explorer")]
        path = self.root / WIDGET_SCRATCH
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(scratch, path)
        for aid in self.assignments:
            folder = self.root / SOLVED_DIR / aid
            shutil.copytree(self.root / course.RELEASE / aid, folder)
            released = nbformat.read(course.release_notebook(aid, self.root), as_version=4)
            solved = course.fill_answers(released, course.solution_answers(aid, self.root))
            nbformat.write(solved, folder / f"{aid}.ipynb")

    def launch(self) -> None:
        """Start JupyterLab the way ``make lab`` does, on a free port (see ``wait_ready``)."""
        self.port = free_port()
        cmd = [
            *_jupyter(), "lab",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.default_url=/lab/tree/notebooks",
            f"--port={self.port}",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            *NO_INTERNET,
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI machines often run as root
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> None:
        for _ in range(3):  # the free port may have been taken in between: try another
            if self._wait_ready():
                return
            self.stop()
            self.launch()
        raise RuntimeError(f"JupyterLab did not start:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.api_request("/api/status"), timeout=5) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_request(self, path: str) -> urllib.request.Request:
        return urllib.request.Request(self.url + path,
                                      headers={"Authorization": f"token {self.token}"})

    def api(self, path: str):
        with urllib.request.urlopen(self.api_request(path), timeout=10) as r:
            return json.load(r)

    def wait_released(self) -> None:
        if self.releasing is None:
            self.release_to_exchange()
        out, _ = self.releasing.communicate(timeout=120)
        assert self.releasing.returncode == 0, f"releasing to the exchange failed:\n{out}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:]).replace(self.token, "<token>")

    def stop(self, wait: bool = True) -> None:
        """SIGTERM (the server shuts its kernels down); with ``wait``, wait for it to exit."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None and not self._terminating:
            proc.send_signal(signal.SIGTERM)
            self._terminating = True
        if not wait:
            return
        self.proc, self._terminating = None, False
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group started for this server
            proc.wait(timeout=5)


# ------------------------------------------------------------------ the page


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _missing(reason: str):
    if os.environ.get("BROWSER_TESTS") == "required":
        pytest.fail(f"{reason} (BROWSER_TESTS=required)", pytrace=False)
    pytest.skip(reason)


def safe_name(nodeid: str) -> str:
    """A file name for a test's screenshot (without xdist's ``@group`` suffix)."""
    name = re.sub(r"@[\w.-]+$", "", nodeid.split("::")[-1])
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


class Lab:
    """The JupyterLab page, with the few things a student or instructor does in it."""

    def __init__(self, page, server: LabServer):
        self.page = page
        self.server = server
        self.console_errors: list[str] = []
        self.blocked: list[str] = []
        self.paths: dict[str, str] = {}  # panel id -> path of its document
        self.screenshots: list[Path] = []  # taken by the current test itself

    # --- menus, tabs and dialogs

    def menu(self, *labels: str) -> None:
        """Click through the menu bar, e.g. ``lab.menu("Run", "Run All Above Selected Cell")``."""
        page = self.page
        page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{re.escape(labels[0])}$")).click()
        for label in labels[1:]:
            page.locator(".lm-Menu:visible .lm-Menu-item",
                         has_text=re.compile(f"^{re.escape(label)}")).first.click()

    def open(self, path: str, cells: int | None = None) -> str:
        """Open a file with File > Open from Path… (or go to its tab if it is open already);
        return the id of its panel. With ``cells``, wait until the notebook shows them all."""
        page = self.page
        self.menu("File", "Open from Path…")
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input").fill(path)
        dialog.locator("input").press("Enter")
        dialog.wait_for(state="detached")
        panel_id = page.wait_for_function(
            """path => {
                const tab = document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current');
                const shown = (tab?.title ?? '').split('\\n').find(l => l.startsWith('Path: '));
                return shown === 'Path: ' + path ? tab.dataset.id : null;
            }""", arg=path).json_value()
        self.panel(panel_id).wait_for()
        self.paths[panel_id] = path
        if cells is not None:
            page.wait_for_function(
                "([id, n]) => document.getElementById(id)"
                "?.querySelectorAll('.jp-Notebook .jp-Cell').length === n",
                arg=[panel_id, cells])
        return panel_id

    def panel(self, panel_id: str):
        return self.page.locator(f"#{panel_id}")

    def activate(self, panel_id: str) -> None:
        self.page.locator(f".lm-DockPanel-tabBar .lm-TabBar-tab[data-id='{panel_id}']").click()
        self.page.wait_for_function(
            "id => !document.getElementById(id).classList.contains('lm-mod-hidden')", arg=panel_id)

    def close_dialogs(self) -> None:
        dialogs = self.page.locator(".jp-Dialog")
        for _ in range(5):
            if dialogs.count() == 0:
                return
            self.page.keyboard.press("Escape")
            self.page.wait_for_timeout(200)

    # --- notebooks

    def run_all_above(self, panel_id: str, index: int) -> None:
        """Select cell ``index`` (0-based) and use Run > Run All Above Selected Cell."""

        def run():
            cell = self.panel(panel_id).locator(".jp-Notebook .jp-Cell").nth(index)
            cell.scroll_into_view_if_needed()
            cell.locator(".jp-InputArea-prompt").click()  # selects it (the collapser would fold it)
            self.page.wait_for_function(
                "([id, i]) => document.getElementById(id).querySelectorAll("
                "'.jp-Notebook .jp-Cell')[i].classList.contains('jp-mod-active')",
                arg=[panel_id, index])
            self.menu("Run", "Run All Above Selected Cell")

        self._start(panel_id, run, index)

    def run_cell(self, panel_id: str, index: int) -> None:
        """Select cell ``index`` and run it with Ctrl+Enter (run, stay on the cell)."""

        def run():
            cell = self.panel(panel_id).locator(".jp-Notebook .jp-Cell").nth(index)
            cell.locator(".jp-InputArea-prompt").click()
            self.page.keyboard.press("Escape")  # command mode
            self.page.keyboard.press("Control+Enter")

        self._start(panel_id, run, index + 1)

    def _start(self, panel_id: str, run, stop: int, attempts: int = 4) -> None:
        """Do ``run`` until one of the code cells before ``stop`` is queued or has run.

        JupyterLab drops a run asked for while the notebook is still connecting to its new
        kernel (the cells keep their empty prompt), and its status shows "idle" before it
        starts connecting: so check that the run took, and ask again if it did not."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        for _ in range(attempts):
            self.wait_kernel_idle(panel_id)
            run()
            try:
                self.page.wait_for_function(
                    """([id, stop]) => [...document.getElementById(id).querySelectorAll(
                           '.jp-Notebook .jp-Cell')].slice(0, stop)
                           .filter(c => c.classList.contains('jp-CodeCell'))
                           .some(c => /^\\[(\\*|\\d+)\\]:$/.test(
                               c.querySelector('.jp-InputArea-prompt')?.textContent.trim()))""",
                    arg=[panel_id, stop], timeout=5_000)
                return
            except PlaywrightTimeout:  # ask again
                self.page.wait_for_timeout(500)
        raise AssertionError(f"the notebook did not start running its cells ({attempts} tries)")

    def wait_kernel_idle(self, panel_id: str, timeout: float = 90) -> None:
        """Wait until the notebook is connected to its kernel and the kernel is idle.

        Code run before the page has its kernel session is dropped, and the page's kernel
        indicator says "idle" before it even starts connecting: so ask the server too that
        the notebook's session has a kernel, idle, with the page connected to it."""
        path = self.paths.get(panel_id)
        deadline = time.monotonic() + timeout
        while path is not None:
            sessions = [s for s in self.server.api("/api/sessions") if s.get("path") == path]
            kernel = sessions[0].get("kernel") or {} if sessions else {}
            if kernel.get("execution_state") == "idle" and kernel.get("connections", 1) > 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: no idle kernel after {timeout} s ({sessions})")
            self.page.wait_for_timeout(200)
        self.page.wait_for_function(
            "id => document.getElementById(id)?.querySelector("
            "'.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'",
            arg=panel_id, timeout=max(1.0, deadline - time.monotonic()) * 1000)

    def kernel_status(self, panel_id: str) -> str:
        return self.panel(panel_id).locator(".jp-Notebook-ExecutionIndicator").get_attribute(
            "data-status") or ""

    def wait_cells_done(self, panel_id: str, stop: int, timeout: float) -> list[dict]:
        """Wait until no code cell before ``stop`` is queued or running and the kernel is idle;
        return what each cell before ``stop`` shows (see ``CELLS_JS``)."""
        deadline = time.monotonic() + timeout
        while True:
            cells = self.cells(panel_id, stop)
            prompts = [c["prompt"] for c in cells if c["code"]]
            if not prompts:
                return cells  # nothing to run above the first exercise
            busy = any("*" in p for p in prompts)
            started = any(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
            if started and not busy and self.kernel_status(panel_id) == "idle":
                return cells
            if time.monotonic() > deadline:
                running = [c["index"] + 1 for c in cells if c["code"] and "*" in c["prompt"]]
                raise AssertionError(
                    f"the cells above the first exercise were still running after {timeout} s "
                    f"(cells {running} show [*]; kernel {self.kernel_status(panel_id)})")
            self.page.wait_for_timeout(250)

    CELLS_JS = """([id, stop]) => {
        const panel = document.getElementById(id);
        return [...panel.querySelectorAll('.jp-Notebook .jp-Cell')].slice(0, stop).map((c, i) => ({
            index: i,
            code: c.classList.contains('jp-CodeCell'),
            prompt: (c.querySelector('.jp-InputArea-prompt')?.textContent ?? '').trim(),
            outputs: [...c.querySelectorAll('.jp-Cell-outputArea > .jp-OutputArea-child'
                                            + ' > .jp-OutputArea-output')].map(o => ({
                mime: o.dataset.mimeType ?? '',
                text: o.textContent.slice(0, 4000),
                widget: o.querySelector('.jupyter-widgets') !== null,
            })),
            stderr: [...c.querySelectorAll('.jp-OutputArea-output')]
                .filter(o => o.dataset.mimeType === 'application/vnd.jupyter.stderr')
                .map(o => o.textContent.slice(0, 4000)),
            images: [...c.querySelectorAll('.jp-OutputArea-output img')].map(img => ({
                rendered: img.complete && img.naturalWidth > 0 && img.naturalHeight > 0,
            })),
        }));
    }"""

    def cells(self, panel_id: str, stop: int) -> list[dict]:
        return self.page.evaluate(self.CELLS_JS, [panel_id, stop])

    def scroll_to_cell(self, panel_id: str, index: int) -> None:
        """Scroll so that cell ``index`` starts at the top of the notebook (for screenshots)."""
        cell = self.panel(panel_id).locator(".jp-Notebook .jp-Cell").nth(index)
        with contextlib.suppress(Exception):
            cell.evaluate("c => c.scrollIntoView({block: 'start'})", timeout=5000)
            self.page.wait_for_timeout(300)  # let the cells that came into view paint

    # --- artefacts

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        self.screenshots.append(path)
        return path


# ------------------------------------------------------------------ the browser session

BROWSER_TESTS = Path(__file__).resolve().parent


def _is_browser_test(item) -> bool:
    return item is not None and BROWSER_TESTS in Path(item.path).resolve().parents


class BrowserSession:
    """JupyterLab, Chromium and the page, made on first use and closed as soon as the browser
    tests are over (``pytest_runtest_teardown``), not at the end of the whole session.

    That matters beyond saving resources: Playwright's sync API keeps an asyncio event loop
    marked as running in the main thread while it is started, and the other test modules
    that run later in the same (xdist worker) process call ``asyncio.run()``."""

    current: BrowserSession | None = None

    def __init__(self, base: Path, chromium: str):
        from playwright.sync_api import sync_playwright

        self.server = LabServer(base)
        self.playwright = None
        self.lab: Lab | None = None
        self.notebook_runs: dict[str, NotebookRun] | None = None
        try:
            self.server.launch()
            self.playwright = sync_playwright().start()  # while JupyterLab starts
            browser = self.playwright.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
            self.server.wait_ready()
            self.lab = self._load(browser)
            self.server.release_to_exchange()  # needed later, by the nbgrader panels
        except BaseException:
            self.close()
            raise

    def _load(self, browser) -> Lab:
        """The JupyterLab page, loaded from the server's root URL like ``make lab``'s."""
        server = self.server
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(30_000)
        lab = Lab(context.new_page(), server)

        def only_localhost(route):
            url = route.request.url
            if url.startswith((server.url + "/", "data:", "blob:")):
                route.continue_()
            else:
                lab.blocked.append(url)
                route.abort()

        context.route("**/*", only_localhost)
        lab.page.on("console", lambda m: m.type == "error" and lab.console_errors.append(m.text))
        lab.page.goto(f"{server.url}/?token={server.token}")
        lab.page.wait_for_url("**/lab/tree/notebooks**")  # make lab's default URL
        lab.page.locator(".jp-DirListing-item").first.wait_for()
        return lab

    stopping: list[LabServer] = []  # servers told to stop, waited for at the session's end

    def close(self, wait: bool = False) -> None:
        """Close Chromium and tell JupyterLab to stop; its kernels shut down in the background
        while the next tests run, unless ``wait``."""
        if BrowserSession.current is self:
            BrowserSession.current = None
        server = self.server
        server.stop(wait=False)
        if self.playwright is not None:
            with contextlib.suppress(Exception):
                self.playwright.stop()  # closes Chromium
            self.playwright = None
        if server.releasing is not None and server.releasing.poll() is None:
            server.releasing.kill()
            server.releasing.wait()
        BrowserSession.stopping.append(server)
        if wait:
            BrowserSession.finish()

    @staticmethod
    def finish() -> None:
        while BrowserSession.stopping:
            server = BrowserSession.stopping.pop()
            server.stop()
            with contextlib.suppress(OSError):
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                (ARTIFACTS / "jupyterlab.log").write_text(server.log_tail(10_000))


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed")
    return path


@pytest.fixture
def lab(tmp_path_factory, chromium_path) -> Lab:
    """The JupyterLab page (one for all the browser tests in a row)."""
    if BrowserSession.current is None:
        BrowserSession.current = BrowserSession(tmp_path_factory.mktemp("browser"), chromium_path)
    return BrowserSession.current.lab


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After the last browser test in a row, close the browser session."""
    yield
    if BrowserSession.current is not None and not _is_browser_test(nextitem):
        BrowserSession.current.close()


def pytest_sessionfinish(session):
    if BrowserSession.current is not None:
        BrowserSession.current.close()
    BrowserSession.finish()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Keep the browser tests on one xdist worker (``--dist loadgroup``) with any pytest.

    pytest-xdist groups tests by suffixing their node ids with ``@<group>`` (it sets
    ``item._nodeid``); pytest 9.2 keeps node ids in ``item._id`` instead, so the suffix is
    lost and the group's tests are spread over the workers. Add it where it is missing."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if not (_is_browser_test(item) and mark) or "@" in item.nodeid.rsplit("]", 1)[-1]:
            continue
        nodeid = f"{item.nodeid}@{mark.args[0] if mark.args else mark.kwargs.get('name')}"
        node_id = getattr(item, "_id", None)
        if node_id is not None and not isinstance(node_id, str):
            item._id = type(node_id).parse(nodeid)
        else:
            item._nodeid = nodeid


@pytest.fixture(autouse=True)
def _screenshot_after(request):
    """Leave a screenshot of the page after every browser test (failures take theirs at the
    moment they fail, in pytest_runtest_makereport)."""
    if BrowserSession.current is not None:
        BrowserSession.current.lab.screenshots.clear()
    yield
    lab = request.node.funcargs.get("lab")
    report = getattr(request.node, "browser_call_report", None)
    failed = report is not None and report.failed
    if lab is not None and not failed and not lab.screenshots:
        with contextlib.suppress(Exception):
            lab.screenshot(safe_name(request.node.nodeid))
    if lab is not None:
        with contextlib.suppress(Exception):
            lab.close_dialogs()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_call_report = report
    lab = item.funcargs.get("lab") if hasattr(item, "funcargs") else None
    if report.failed and report.when in ("setup", "call") and lab is not None:
        try:
            path = lab.screenshot(safe_name(item.nodeid))
            note = f"screenshot of the page at the failure: {path}"
        except Exception as exc:  # the page itself may be gone
            note = f"no screenshot: {exc!r}"
        report.sections.append(("browser screenshot", note))
        if lab.console_errors:
            report.sections.append(("browser console errors", "\n".join(lab.console_errors[-20:])))
        if lab.blocked:
            report.sections.append(("blocked requests (not 127.0.0.1)", "\n".join(lab.blocked)))
        report.sections.append(("JupyterLab log (end)", lab.server.log_tail()))
    return report


def shorten(text: str, head: int = 4, tail: int = 8) -> str:
    """The first and last lines of ``text`` (a traceback ends with what went wrong), indented."""
    rows = text.strip().splitlines()
    if len(rows) > head + tail + 1:
        rows = [*rows[:head], f"… ({len(rows) - head - tail} lines)", *rows[-tail:]]
    return textwrap.indent("\n".join(rows), "    ")


# ------------------------------------------------------------------ notebook runs


@dataclass
class NotebookRun:
    """One student notebook opened in the page, its cells above the first exercise started."""

    assignment: str
    path: str  # relative to the server's root
    stop: int  # index of the first exercise's first cell
    cells: int
    facts: list[CellFacts]
    panel_id: str = ""
    started: float = 0.0
    error: BaseException | None = None


def start_notebook_runs(lab: Lab, wanted: set[str]) -> dict[str, NotebookRun]:
    """The student notebooks in ``wanted``, opened one after another in the page, each
    started with Run > Run All Above Selected Cell on its first exercise. They run side by
    side (one kernel each), as if a student had them all open; each test checks its own."""
    runs = {}
    for aid in lab.server.assignments:
        if aid not in wanted:
            continue
        path = course.release_notebook(aid, lab.server.root)
        nb = nbformat.read(path, as_version=4)
        run = NotebookRun(aid, str(path.relative_to(lab.server.root)), 0, len(nb.cells), [])
        runs[aid] = run
        try:
            run.stop = first_exercise(nb)
            run.facts = notebook_facts(nb, run.stop)
            run.panel_id = lab.open(run.path, cells=run.cells)
            lab.run_all_above(run.panel_id, run.stop)
            run.started = time.monotonic()
        except Exception as exc:  # reported by this notebook's own test
            run.error = exc
            lab.close_dialogs()
    return runs


@pytest.fixture
def notebook_runs(lab, request) -> dict[str, NotebookRun]:
    session = BrowserSession.current
    if session.notebook_runs is None:
        wanted = {item.callspec.params["assignment"] for item in request.session.items
                  if "assignment" in getattr(getattr(item, "callspec", None), "params", {})}
        session.notebook_runs = start_notebook_runs(lab, wanted)
    return session.notebook_runs
