"""The student kit (``make student-kit``), as a student gets it.

The kit is built with ``student/build_kit.py``, unpacked into a temporary folder outside the
repository and installed there from its own ``requirements.txt`` into a new virtual
environment. Notebook 01 then runs top to bottom in that environment (a real kernel; the
exercises are unsolved), and the kit's JupyterLab, started with its ``start.py``, is driven in
Chromium: Validate works, and the instructor's nbgrader tools (Nbgrader menu, formgrader,
Create Assignment, course and assignment lists) and the "Jupyter news" pop-up are absent.
The instructor's ``make lab``, started the same way beside it, still shows all three.

Installing JupyterLab and its ~120 packages afresh takes 1.5 minutes and 0.5 GB on a busy
2-core machine, too long for every ``make test``. By default the kit's environment therefore
sees this environment's packages (a ``.pth`` file, and the Jupyter data and config folders
that JupyterLab and nbgrader installed here): ``pip install -r requirements.txt`` still
resolves every pinned line against what is installed and really installs the kit's asynclab
wheel, which the notebooks then import (the repository's asynclab and grader are not
importable there). ``STUDENT_KIT_INSTALL=full`` installs everything from the package index
instead, as a student does.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from browser.conftest import (
    CHROMIUM_FLAGS,
    STARTUP_TIMEOUT,
    VIEWPORT,
    Lab,
    find_chromium,
    free_port,
)
from browser.test_nbgrader import validate
from test_release import secret_lines

from grader import course

ROOT = course.ROOT
BUILD_SCRIPT = ROOT / "student" / "build_kit.py"
FULL_INSTALL = os.environ.get("STUDENT_KIT_INSTALL") == "full"
NB01 = "01_coroutines"
# nbgrader's JupyterLab plugins an instructor uses and a student must not see; Validate stays.
INSTRUCTOR_PLUGINS = ["formgrader", "create-assignment", "course-list", "assignment-list",
                      "menu"]
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"

pytestmark = pytest.mark.xdist_group("student_kit")


def _build_module():
    spec = importlib.util.spec_from_file_location("student_build_kit", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_kit = _build_module()


# ------------------------------------------------------------------ the kit, built and unpacked


@pytest.fixture(scope="module")
def kit_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kit-build") / "asyncio-course-student.zip"
    done = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--zip", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"building the kit failed:\n{done.stdout}{done.stderr}"
    return out


@pytest.fixture(scope="module")
def kit(kit_zip, tmp_path_factory) -> Path:
    """The kit unpacked, as a student's folder (outside the repository)."""
    where = tmp_path_factory.mktemp("student-home")
    assert not where.resolve().is_relative_to(ROOT), "the kit must be tried outside the repository"
    with zipfile.ZipFile(kit_zip) as zf:
        zf.extractall(where)
    folder = where / build_kit.KIT_NAME
    assert folder.is_dir(), f"the zip does not unpack to {build_kit.KIT_NAME}/"
    return folder


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@dataclass
class KitEnvironment:
    python: Path
    env: dict[str, str]  # the environment a student's shell would have, plus fresh Jupyter dirs
    install_seconds: float


@pytest.fixture(scope="module")
def kit_env(kit, tmp_path_factory) -> KitEnvironment:
    """The kit installed with its first README command into ``.venv`` inside the kit."""
    venv = kit / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = _venv_python(venv)
    home = tmp_path_factory.mktemp("student-jupyter")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "PYTHON", "MPL", "VIRTUAL_ENV"))}
    here_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        [str(python.parent)] + [p for p in env.get("PATH", "").split(os.pathsep) if p != here_bin])
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), PYTHONUNBUFFERED="1")
    if not FULL_INSTALL:
        purelib = sysconfig.get_paths()["purelib"]
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                               "['purelib'])"], capture_output=True, text=True, check=True)
        Path(site.stdout.strip(), "course-environment.pth").write_text(purelib + "\n")
        env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
        env["JUPYTER_CONFIG_PATH"] = str(Path(sys.prefix) / "etc" / "jupyter")
    started = time.monotonic()
    done = subprocess.run([str(python), "-m", "pip", "install", "-r", "requirements.txt"],
                          cwd=kit, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    assert done.returncode == 0, f"pip install -r requirements.txt failed:\n{done.stdout[-3000:]}" \
        f"{done.stderr[-3000:]}"
    print(f"student kit installed in {seconds:.1f} s ({'full' if FULL_INSTALL else 'layered'})")
    return KitEnvironment(python, env, seconds)


def kit_text_files(kit_zip: Path):
    """(name, bytes) of every file in the zip, and of every file inside its wheels."""
    with zipfile.ZipFile(kit_zip) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            yield name, data
            if name.endswith(".whl"):
                with zipfile.ZipFile(zf.open(name)) as wheel:
                    for inner in wheel.namelist():
                        yield f"{name}!{inner}", wheel.read(inner)


# ------------------------------------------------------------------ what the kit holds


def test_kit_holds_the_release_and_nothing_of_the_instructors(kit_zip):
    prefix = build_kit.KIT_NAME + "/"
    with zipfile.ZipFile(kit_zip) as zf:
        names = zf.namelist()
        assert all(n.startswith(prefix) for n in names), names
        files = {n[len(prefix):]: zf.read(n) for n in names if not n.endswith("/")}
    released = {p.relative_to(ROOT).as_posix(): p.read_bytes()
                for p in (ROOT / course.RELEASE).glob("*/*.ipynb")}
    assert released, "no released notebooks"
    for path, data in released.items():
        assert files.get(path) == data, f"{path} is not in the kit as released"
    for name in files:
        parts = set(Path(name).parts)
        assert not parts & {"solutions", "grader", "grading", "tests"}, f"{name} is the instructor's"
    assert {"README.md", "requirements.txt", "start.py"} <= set(files), sorted(files)
    # No solution or hidden test, by marker or by a line of their text, anywhere.
    secrets = {aid: secret_lines(nbformat.read(course.source_notebook(aid), as_version=4))
               for aid in course.assignments()}
    leaks = []
    for name, data in kit_text_files(kit_zip):
        text = data.decode("utf-8", errors="replace")
        leaks += [f"{name}: {m}" for m in build_kit.SECRETS if m in text]
        if name.endswith(".ipynb"):
            nb = nbformat.reads(text, as_version=4)
            lines = {line.strip() for c in nb.cells for line in c.source.splitlines()}
            mine = secrets.get(Path(name).stem)
            assert mine is not None, f"{name}: no such assignment in {course.SOURCE}/"
            leaks += [f"{name}: {s}" for s in sorted(lines & mine)]
    assert not leaks, "the kit shows solutions or hidden tests:\n" + "\n".join(leaks)


def test_kit_wheel_is_asynclab_alone_and_declares_what_it_imports(kit_zip):
    with zipfile.ZipFile(kit_zip) as zf:
        wheels = [n for n in zf.namelist() if n.endswith(".whl")]
        assert len(wheels) == 1 and Path(wheels[0]).name.startswith("asynclab-"), wheels
        with zipfile.ZipFile(zf.open(wheels[0])) as wheel:
            names = wheel.namelist()
            meta = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"asynclab"}, f"the wheel holds {sorted(tops)}"
    modules = {Path(n).name for n in names if n.endswith(".py")}
    assert modules == {p.name for p in (ROOT / "asynclab").glob("*.py")}, modules
    declared = {re.split(r"[\s<>=!\[;~]", line.split(":", 1)[1].strip(), maxsplit=1)[0].lower()
                for line in meta.splitlines() if line.startswith("Requires-Dist:")}
    needed = third_party_distributions(ROOT / "asynclab")
    missing = {mod: dists for mod, dists in needed.items() if not dists & declared}
    assert not missing, f"asynclab imports these, its wheel does not require them: {missing}"


def third_party_distributions(*sources: Path) -> dict[str, set[str]]:
    """Top-level module -> the distributions that provide it, for every module imported by
    the Python files or notebooks under ``sources`` that is neither standard nor the course's."""
    import ast

    texts = []
    for source in sources:
        for path in source.rglob("*.py"):
            texts.append(path.read_text())
        for path in source.rglob("*.ipynb"):
            nb = nbformat.read(path, as_version=4)
            texts += [c.source for c in nb.cells if c.cell_type == "code"
                      and not c.source.lstrip().startswith(("%", "!"))]
    providers = md.packages_distributions()
    found: dict[str, set[str]] = {}
    for text in texts:
        written = set(re.findall(r"([A-Za-z_]\w*)\.py\b", text))  # a module the cell writes
        try:
            tree = compile(text, "<cell>", "exec",
                           flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module.split(".")[0]]
            else:
                continue
            for mod in mods:
                if mod in sys.stdlib_module_names or mod in written or mod == "asynclab":
                    continue
                found[mod] = {d.lower() for d in providers.get(mod, [])}
    return found


def requirement_closure(names: list[str]) -> set[str]:
    """The distributions ``names`` bring, with everything they require (as installed here)."""
    seen: set[str] = set()
    todo = [n.lower() for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        with contextlib.suppress(md.PackageNotFoundError):
            for req in md.requires(name) or []:
                if "extra ==" in req:
                    continue
                todo.append(re.split(r"[\s<>=!\[;~(]", req, maxsplit=1)[0].lower())
    return {n.replace("_", "-") for n in seen}


def test_kit_requirements_pin_what_the_notebooks_import(kit_zip):
    with zipfile.ZipFile(kit_zip) as zf:
        text = zf.read(f"{build_kit.KIT_NAME}/requirements.txt").decode()
        wheel = next(Path(n).name for n in zf.namelist() if n.endswith(".whl"))
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    pins = dict(line.split("==") for line in lines if "==" in line)
    for name in build_kit.STUDENT_PACKAGES:
        assert pins.get(name) == md.version(name), f"{name} is not pinned to {md.version(name)}"
    assert f"./{wheel}" in lines, f"requirements.txt does not install {wheel}"
    assert not [line for line in lines if "==" not in line and line != f"./{wheel}"], lines
    # Every package the notebooks (all of them, not only 01) and asynclab import comes with it.
    wheel_deps = [re.split(r"[\s<>=]", r, maxsplit=1)[0] for r in re.findall(
        r'^\s*"([^"]+)",', (ROOT / "student" / "asynclab.pyproject.toml").read_text(), re.M)]
    provided = requirement_closure([*pins, *wheel_deps])
    needed = third_party_distributions(ROOT / course.RELEASE, ROOT / "asynclab")
    missing = {mod: dists for mod, dists in needed.items()
               if not {d.replace("_", "-") for d in dists} & provided}
    assert not missing, f"the notebooks import these, the kit does not install them: {missing}"


def test_kit_settings_name_nbgrader_plugins_that_exist(kit_zip):
    """The plugin ids the kit disables are those of the nbgrader installed here (a renamed
    plugin would come back silently), and Validate's is not among them."""
    with zipfile.ZipFile(kit_zip) as zf:
        page = json.loads(zf.read(f"{build_kit.KIT_NAME}/jupyter/labconfig/page_config.json"))
    disabled = {k for k, v in page["disabledExtensions"].items() if v}
    wanted = {f"@jupyter/nbgrader:{p}" for p in INSTRUCTOR_PLUGINS} | {NEWS_PLUGIN}
    assert disabled == wanted, disabled ^ wanted
    static = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader"
    code = "".join(p.read_text(errors="replace") for p in static.glob("static/*.js"))
    plugins = set(re.findall(r'"(@jupyter/nbgrader:[\w-]+)"', code))  # the plugins' ids
    assert VALIDATE_PLUGIN in plugins, plugins
    assert {p for p in wanted if p.startswith("@jupyter/nbgrader:")} <= plugins, plugins


# ------------------------------------------------------------------ installed: notebook 01

RUN_NOTEBOOK = """
import sys
import nbformat
from nbclient import NotebookClient

source, target = sys.argv[1:3]
nb = nbformat.read(source, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import sys, asynclab\\nprint(sys.prefix)\\nprint(asynclab.__file__)"))
client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                        resources={"metadata": {"path": sys.argv[3]}})
client.execute()
nbformat.write(nb, target)
"""


def test_kit_installs_without_the_repository(kit_env, kit):
    probe = subprocess.run(
        [str(kit_env.python), "-c", "import asynclab, sys; print(asynclab.__file__)\n"
         "try:\n import grader\nexcept ImportError:\n print('no grader')\n"
         "else:\n print('grader', grader.__file__)"],
        cwd=kit, env=kit_env.env, capture_output=True, text=True, timeout=120)
    lines = probe.stdout.splitlines()
    assert probe.returncode == 0 and len(lines) == 2, probe.stdout + probe.stderr
    assert Path(lines[0]).resolve().is_relative_to((kit / ".venv").resolve()), lines[0]
    assert lines[1] == "no grader", lines[1]


def test_notebook_01_runs_top_to_bottom_in_the_kit(kit_env, kit):
    folder = kit / "notebooks" / NB01
    source, target = folder / f"{NB01}.ipynb", kit.parent / f"{NB01}.executed.ipynb"
    done = subprocess.run([str(kit_env.python), "-c", RUN_NOTEBOOK, str(source), str(target),
                           str(folder)], cwd=folder, env=kit_env.env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"running {NB01} failed:\n{done.stdout}{done.stderr[-4000:]}"
    nb = nbformat.read(target, as_version=4)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    assert all(c.execution_count for _, c in code), "a cell did not run"
    *course_cells, (_, probe) = code
    prefix, asynclab_file = "".join(o.get("text", "") for o in probe.outputs).split()
    assert Path(prefix).resolve() == (kit / ".venv").resolve(), prefix
    assert Path(asynclab_file).resolve().is_relative_to((kit / ".venv").resolve())

    problems, answers, tests, pictures = [], 0, 0, 0
    for i, cell in course_cells:
        meta = course.nbgrader_meta(cell)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        stderr = [o.text for o in cell.outputs if o.get("name") == "stderr"]
        pictures += sum("image/png" in o.get("data", {}) for o in cell.outputs)
        if meta.get("solution"):  # an unsolved answer: it defines the stub, or raises its
            answers += 1          # NotImplementedError (an answer that sets names)
            if [e.ename for e in errors] not in ([], ["NotImplementedError"]) or stderr:
                problems.append(f"answer cell {i}: {[(e.ename, e.evalue) for e in errors]}")
        elif meta.get("grade"):  # its test: "... is not answered yet", no diagnosis
            tests += 1
            if len(errors) != 1 or "not answered yet" not in errors[0].evalue:
                problems.append(f"test cell {i}: {[(e.ename, e.evalue) for e in errors]}")
        elif errors or stderr:
            problems.append(f"lesson cell {i}: {[(e.ename, e.evalue) for e in errors]} {stderr}")
    setup = "".join(o.get("text", "") for o in course_cells[0][1].outputs)
    assert "Setup complete." in setup, setup
    assert answers >= 4 and tests >= 4, (answers, tests)
    assert pictures >= 1, "no timeline was drawn"
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ in the browser

TOAST_RECORDER = """
window.__toasts = [];
new MutationObserver(() => {
    for (const toast of document.querySelectorAll('.Toastify__toast')) {
        const text = toast.textContent.trim();
        if (!window.__toasts.includes(text)) window.__toasts.push(text);
    }
}).observe(document, {childList: true, subtree: true});
"""
SIDEBAR_TABS_JS = """() => [...document.querySelectorAll('.jp-SideBar .lm-TabBar-tab')]
    .map(t => `${t.getAttribute('title') ?? ''} ${t.textContent}`.trim())"""


class Server:
    """A JupyterLab started by ``command`` (the kit's start.py, or make lab's command line)."""

    def __init__(self, command: list[str], port: int, cwd: Path, env: dict[str, str],
                 root: Path, log: Path):
        self.root, self.log_path, self.port = root, log, port
        self.token = os.urandom(16).hex()
        env = dict(env, JUPYTER_TOKEN=self.token)
        env.pop("DISPLAY", None)
        with open(log, "w") as out:
            self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str):
        request = urllib.request.Request(self.url + path,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.load(r)

    def status(self, path: str) -> int:
        request = urllib.request.Request(self.url + path,
                                         headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"JupyterLab exited:\n{self.log_tail()}"
            with contextlib.suppress(OSError, ValueError):
                self.api("/api/status")
                return
            time.sleep(0.3)
        raise AssertionError(f"JupyterLab did not start:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:]).replace(self.token, "<token>")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group started for this server
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def server_args(server_port: int) -> list[str]:
    args = [f"--port={server_port}", "--no-browser", "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return args


def make_lab_command(port: int) -> list[str]:
    """The command ``make lab`` runs (``make -n``: nothing is set up or started by make)."""
    done = subprocess.run(["make", "-s", "-n", "-C", str(ROOT), "lab", f"VENV={sys.prefix}",
                           f"PORT={port}"], capture_output=True, text=True, timeout=60)
    recipe = re.sub(r"\\\n\s*", " ", done.stdout)  # the recipe's continued lines, joined
    lines = [line for line in recipe.splitlines() if "/bin/jupyter lab" in line]
    assert done.returncode == 0 and len(lines) == 1, done.stdout + done.stderr
    return shlex.split(lines[0])


def page_for(browser, server: Server):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        (server.url + "/", "data:", "blob:")) else route.abort())
    page = context.new_page()
    page.add_init_script(TOAST_RECORDER)
    page.goto(f"{server.url}/lab?token={server.token}")
    page.locator(".jp-DirListing-item").first.wait_for()
    page.locator(".lm-MenuBar-item", has_text=re.compile("^File$")).wait_for()
    return page


def menus(page) -> list[str]:
    return [t.strip() for t in page.locator(".lm-MenuBar-item").all_text_contents()]


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        if os.environ.get("BROWSER_TESTS") == "required":
            pytest.fail("Chromium is not installed (BROWSER_TESTS=required)", pytrace=False)
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True,
                                             args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def test_student_lab_validates_and_shows_no_instructor_tools(kit_env, kit, chromium,
                                                             tmp_path_factory):
    """The kit's JupyterLab, started with its README's command: Validate answers on notebook
    01; no Nbgrader menu, no Create Assignment panel, no news pop-up, no instructor server
    extensions. The instructor's ``make lab`` (with a fresh Jupyter configuration), started
    beside it, shows all three, so the checks can see what they look for."""
    logs = tmp_path_factory.mktemp("kit-lab")
    home = logs / "instructor-jupyter"
    instructor_env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MPL"))}
    instructor_env.update(JUPYTER_CONFIG_DIR=str(home / "config"),
                          JUPYTER_DATA_DIR=str(home / "data"),
                          JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    # nbgrader's exchange, as the browser tests set it: the default one is not writable here.
    (home / "exchange").mkdir(parents=True)
    (home / "exchange").chmod(0o777)
    (home / "config").mkdir()
    (home / "config" / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.Exchange.root = {str(home / 'exchange')!r}\n")
    instructor_port = free_port()
    instructor_command = make_lab_command(instructor_port)
    servers: list[Server] = []
    try:
        port = free_port()
        student = Server([str(kit_env.python), "start.py", *server_args(port)], port, cwd=kit,
                         env=kit_env.env, root=kit / "notebooks", log=logs / "student.log")
        servers.append(student)
        instructor = Server(instructor_command, instructor_port, cwd=ROOT, env=instructor_env,
                            root=ROOT, log=logs / "instructor.log")
        servers.append(instructor)
        student.wait_ready()
        instructor.wait_ready()
        # The server: Validate's extension answers, the instructor's ones are not loaded.
        assert student.status(f"/nbgrader_version?version={md.version('nbgrader')}") == 200
        for path in ("/formgrader", "/assignments", "/courses"):
            assert student.status(path) == 404, f"the student's server answers {path}"
            assert instructor.status(path) != 404, f"the instructor's server lacks {path}"

        page = page_for(chromium, student)
        lab = Lab(page, student)
        result = validate(lab, f"{NB01}/{NB01}.ipynb")
        assert result["header"] == "Validation Results", result
        assert "validation-failed" in result["classes"], result["text"][:2000]
        assert "not answered yet" in result["text"], result["text"][:2000]
        lab.close_dialogs()
        student_menus, student_tabs = menus(page), page.evaluate(SIDEBAR_TABS_JS)
        student_toasts = page.evaluate("window.__toasts")

        teacher = page_for(chromium, instructor)
        teacher.locator(".Toastify__toast", has_text="Jupyter news").wait_for()
        teacher.locator(".lm-MenuBar-item", has_text=re.compile("^Nbgrader$")).wait_for()
        teacher_tabs = teacher.evaluate(SIDEBAR_TABS_JS)
        assert any("Create Assignment" in t for t in teacher_tabs), teacher_tabs

        assert "Kernel" in student_menus and "Nbgrader" not in student_menus, student_menus
        assert student_tabs and not [t for t in student_tabs if "Assignment" in t], student_tabs
        assert not [t for t in student_toasts if "news" in t.lower()], student_toasts
    except BaseException:
        for server in servers:
            print(f"--- JupyterLab of {server.root}\n{server.log_tail()}")
        raise
    finally:
        for server in servers:
            server.stop()
