"""The course's JupyterHub on this machine: its environment, its folders, and a class to try.

    python3 deploy/localhub.py setup     the hub's environment (see below); quick when current
    python3 deploy/localhub.py run       a hub in a temporary folder (`make hub`; root)

``setup`` builds the one environment that the hub, every user's server and their kernels
run from: a virtualenv made with a Python that every user can run (not one installed under
/root), with the course installed from a copy of this folder (non-editable, so kernels
import ``asynclab`` from site-packages and never need to read the course folder), JupyterHub
(the ``hub`` extra), the role settings of ``deploy/jupyter/``, and the proxy
(``npm ci`` in ``deploy/``). It runs again only when the course's code or settings changed.

``run`` starts a hub for a class of system users: the instructor's course folder is a copy
of this course in the instructor's home (mode 700), the exchange and the hub's state are in
a temporary folder removed at exit. It needs root (the hub starts each user's server as
that user); with ``--create-users`` it creates the users it lacks, with passwords it prints,
and removes them at exit.

The hub tests (tests/hub/) use the same code. Only the standard library is used here: this
file runs before the hub's environment exists.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
COURSE_ID = "asyncio-course"
# What the course's installed copy is made of: a change to any of these reinstalls it
# (README.md is copied too, as pyproject.toml's readme, but changes nothing installed).
COURSE_FILES = ["pyproject.toml", "asynclab", "grader"]
SETTINGS = DEPLOY / "jupyter"  # installed as <env>/etc/asyncio-course/
PROXY = DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy"
USER_MARK = "asyncio-course hub user"  # the comment field of users created here


class SetupError(Exception):
    """The hub cannot be set up or started as asked; the message says what to do."""


def say(*args) -> None:
    print("[hub]", *args, flush=True)


# ------------------------------------------------------------------ the environment


def reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach ``path`` (every folder above it is
    searchable by others)."""
    path = Path(path).resolve()
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in [path, *path.parents] if p.exists())


def hub_env_path() -> Path:
    """Where the hub's environment lives: $HUB_VENV, else ``.venv-hub`` in this folder if
    other users can reach it, else a folder under /var/tmp named after this folder."""
    if os.environ.get("HUB_VENV"):
        return Path(os.environ["HUB_VENV"]).resolve()
    if reachable_by_others(REPO):
        return REPO / ".venv-hub"
    tag = hashlib.sha1(str(REPO).encode()).hexdigest()[:10]
    return Path("/var/tmp") / f"asyncio-course-hub-{tag}" / "venv"


def runnable_by_others(python: str) -> bool:
    """Whether other users can run ``python`` and read its standard library."""
    if os.geteuid() == 0:
        try:
            return subprocess.run(
                [python, "-c", "import venv, ensurepip, sqlite3"], user="nobody", group="nogroup",
                extra_groups=[], cwd="/", capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False
    real = Path(python).resolve()
    return reachable_by_others(real) and bool(real.stat().st_mode & stat.S_IXOTH)


def base_python() -> str:
    """A Python 3.11+ that every user can run: $HUB_PYTHON, or the system's."""
    candidates = [os.environ.get("HUB_PYTHON"), "/usr/bin/python3", "/usr/local/bin/python3"]
    tried = []
    for python in filter(None, candidates):
        if not Path(python).exists():
            continue
        ok = subprocess.run([python, "-c", "import sys, venv, ensurepip; "
                             "assert sys.version_info >= (3, 11)"], capture_output=True)
        if ok.returncode == 0 and runnable_by_others(python):
            return python
        tried.append(python)
    raise SetupError(
        "No Python 3.11+ with venv that every user can run was found "
        f"(tried: {', '.join(tried) or 'none present'}). On Debian: apt-get install "
        "python3 python3-venv; or set HUB_PYTHON to one (a Python installed under /root "
        "cannot be run by other users).")


def fingerprint(paths: list[Path]) -> str:
    """A hash of the files below ``paths``."""
    digest = hashlib.sha256()
    for top in paths:
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _run(cmd: list, **kwargs) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise SetupError(f"{' '.join(map(str, cmd))} failed (exit {proc.returncode}):\n"
                         f"{(proc.stdout + proc.stderr)[-3000:]}")


class Stamp:
    """A file that records the fingerprint of what was last installed."""

    def __init__(self, path: Path, sources: list[Path]):
        self.path, self.want = path, fingerprint(sources)

    def current(self) -> bool:
        return self.path.exists() and self.path.read_text().strip() == self.want

    def write(self) -> None:
        self.path.write_text(self.want + "\n")


def setup(env: Path | None = None) -> Path:
    """Build or refresh the hub's environment; return its path. Each part is redone only
    when what it is made of changed: the course (pip), the role settings, the proxy."""
    env = env or hub_env_path()
    course = Stamp(env / ".asyncio-course-installed", [REPO / n for n in COURSE_FILES])
    settings = Stamp(env / ".asyncio-course-settings", [SETTINGS])
    proxy = Stamp(DEPLOY / "node_modules" / ".asyncio-course-lock",
                  [DEPLOY / "package-lock.json"])
    if course.current() and settings.current() and proxy.current() and PROXY.exists():
        return env
    old_umask = os.umask(0o022)  # every user reads what is installed here
    try:
        if not (env / "bin" / "python").exists():
            python = base_python()
            say(f"creating the hub's environment in {env} (with {python})")
            env.parent.mkdir(parents=True, exist_ok=True)
            _run([python, "-m", "venv", env])
        if not course.current():
            install_course(env)
            course.write()
        if not settings.current():
            target = env / "etc" / "asyncio-course"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(SETTINGS, target, ignore=shutil.ignore_patterns("__pycache__"))
            settings.write()
        if not (proxy.current() and PROXY.exists()):
            npm = shutil.which("npm")
            if npm is None:
                raise SetupError("npm is needed for the hub's proxy (apt-get install npm)")
            say("installing configurable-http-proxy (npm ci in deploy/)")
            _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=DEPLOY)
            proxy.write()
        if os.geteuid() == 0:  # check what matters: another user can use it
            _run([env / "bin" / "python", "-c", "import asynclab, grader, nbgrader, jupyterhub"],
                 user="nobody", group="nogroup", extra_groups=[], cwd="/")
    finally:
        os.umask(old_umask)
    return env


def install_course(env: Path) -> None:
    """pip install the course (non-editable) with the ``hub`` extra, from a copy: pip's
    build would write build/ and *.egg-info here, and the installed course must not
    depend on this folder."""
    with tempfile.TemporaryDirectory(prefix="asyncio-course-src-") as tmp:
        src = Path(tmp) / "course"
        src.mkdir()
        for name in [*COURSE_FILES, "README.md"]:
            path = REPO / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(path, src / name)
        say("installing the course, JupyterHub and nbgrader into it (pip)")
        pip = [env / "bin" / "python", "-m", "pip", "install", "--quiet",
               "--disable-pip-version-check"]
        _run([*pip, "--force-reinstall", "--no-deps", src])
        _run([*pip, f"{src}[hub]"])


# ------------------------------------------------------------------ users


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def create_user(name: str, password: str) -> None:
    """A system user with a private home (0700: other students cannot read it)."""
    _run(["useradd", "--create-home", "--key", "HOME_MODE=0700", "--shell", "/bin/bash",
          "--comment", f"{USER_MARK} (pid {os.getpid()})", name])
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)


def user_processes(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def remove_user(name: str) -> None:
    """Stop what runs as the user (the servers and kernels the hub started), then remove the
    user and their home."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = user_processes(uid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while user_processes(uid) and time.monotonic() < deadline:
            time.sleep(0.1)
    subprocess.run(["userdel", "--remove", name], capture_output=True)


def remove_stale_users() -> list[str]:
    """Users created here by a process that is gone (a run killed before its clean-up)."""
    removed = []
    for entry in pwd.getpwall():
        if entry.pw_gecos.startswith(USER_MARK + " (pid "):
            pid = int(entry.pw_gecos.rsplit(" ", 1)[-1].rstrip(")"))
            if not Path(f"/proc/{pid}").exists():
                remove_user(entry.pw_name)
                removed.append(entry.pw_name)
    return removed


# ------------------------------------------------------------------ a hub


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(dest: Path) -> Path:
    """The parts of this course an instructor grades from: its nbgrader configuration, the
    instructor notebooks and the release."""
    dest.mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for folder in ("solutions", "notebooks"):
        shutil.copytree(REPO / folder, dest / folder, ignore=ignore)
    return dest


def chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, entry.pw_uid, entry.pw_gid)


@dataclass
class LocalHub:
    """A JupyterHub for ``instructors`` and ``students`` (system users that exist), with
    its state and exchange in ``base``, on free ports of 127.0.0.1 unless ``port``."""

    base: Path
    instructors: list[str]
    students: list[str]
    env_path: Path = field(default_factory=hub_env_path)
    port: int = 0
    extra_config: str = ""  # Python appended to the hub's configuration (tests: a service)
    grading_service: bool = True  # the instructors' grading JupyterLab at /services/grading/
    proc: subprocess.Popen | None = None

    def __post_init__(self):
        self.base = Path(self.base)
        self.state = self.base / "state"
        self.exchange = self.base / "exchange"
        self.log_path = self.base / "jupyterhub.log"
        self.course = Path(pwd.getpwnam(self.instructors[0]).pw_dir) / "asyncio-course"
        self.port = self.port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        """The folders of a class, with the permissions that keep it honest:

        - the course folder belongs to the instructor, mode 700: solutions, the gradebook and
          collected submissions are out of the students' reach;
        - the exchange is world-writable with the sticky bit, as nbgrader requires, and its
          course folder is made now by the instructor, so no student can take that name;
        - the hub's state (its database, cookie secret) is root's alone."""
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        self.state.mkdir(mode=0o700)
        self.exchange.mkdir()
        os.chmod(self.exchange, 0o1777)
        course_in_exchange = self.exchange / COURSE_ID
        course_in_exchange.mkdir(mode=0o755)
        chown_tree(course_in_exchange, self.instructors[0])
        if not self.course.exists():
            copy_course(self.course)
            chown_tree(self.course, self.instructors[0])
        os.chmod(self.course, 0o700)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "ASYNCIO_"))}
        env.update(
            PATH=os.pathsep.join([str(self.env_path / "bin"), "/usr/local/bin", "/usr/bin",
                                  "/bin", "/usr/sbin", "/sbin"]),
            ASYNCIO_HUB_INSTRUCTORS=",".join(self.instructors),
            ASYNCIO_HUB_STUDENTS=",".join(self.students),
            ASYNCIO_HUB_COURSE=str(self.course),
            ASYNCIO_HUB_EXCHANGE=str(self.exchange),
            ASYNCIO_HUB_STATE=str(self.state),
            ASYNCIO_HUB_URL=self.url,
            ASYNCIO_HUB_API_PORT=str(free_port()),
            ASYNCIO_HUB_PROXY_PORT=str(free_port()),
            ASYNCIO_HUB_PROXY=str(PROXY),
        )
        if self.grading_service:
            env.update(ASYNCIO_HUB_GRADING_SERVICE="1", ASYNCIO_HUB_GRADING_PORT=str(free_port()))
        return env

    def config_file(self) -> Path:
        """The deployed configuration, plus ``extra_config``."""
        path = self.state / "jupyterhub_config.py"
        path.write_text(
            "c = get_config()  # noqa: F821\n"
            f"load_subconfig({str(DEPLOY / 'jupyterhub_config.py')!r})  # noqa: F821\n"
            + self.extra_config)
        return path

    def start(self) -> None:
        cmd = [str(self.env_path / "bin" / "jupyterhub"), "-f", str(self.config_file())]
        with open(self.log_path, "ab") as log:
            # SIGINT as by default, even if this runs in the background (where the shell
            # ignores it): the hub stops its services with it.
            self.proc = subprocess.Popen(cmd, cwd=self.state, env=self.environment(),
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=_default_sigint)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SetupError(f"JupyterHub exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/hub/api/", timeout=5) as r:
                    if r.status == 200 and "version" in json.load(r):
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(0.2)
        raise SetupError(f"JupyterHub did not answer in {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 90) -> None:
        """Stop the hub; it stops the users' servers, its services and the proxy as it
        exits. Whatever it started and left running is then ended, by process id."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        started = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = [pid for pid in started if Path(f"/proc/{pid}").exists()]
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while alive and time.monotonic() < deadline:
                alive = [pid for pid in alive if Path(f"/proc/{pid}").exists()]
                time.sleep(0.1)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and by them, and so on (as they are now)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo += children.get(child, [])
    return out


# ------------------------------------------------------------------ make hub


def cmd_run(args) -> int:
    instructors = [args.instructor]
    students = args.student or ["asyncio-student1", "asyncio-student2"]
    users = instructors + students
    if os.geteuid() != 0:
        say("A hub for several users runs as root: it starts each user's server as that user "
            "(LocalProcessSpawner), and logs users in with their system passwords (PAM).")
        say(f"Run it as root: sudo make hub  (users: {', '.join(users)})")
        return 2
    missing = [u for u in users if not user_exists(u)]
    created: dict[str, str] = {}
    if missing and not args.create_users:
        say(f"These users do not exist: {', '.join(missing)}. Creating users needs root:")
        for u in missing:
            say(f"  useradd --create-home --key HOME_MODE=0700 {u} && passwd {u}")
        say("or let this create them for the trial (removed when the hub stops): "
            "make hub CREATE_USERS=1")
        return 2
    env = setup()

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):  # clean up as for Ctrl-C
        signal.signal(sig, interrupted)
    for u in missing:
        created[u] = secrets.token_urlsafe(9)
        create_user(u, created[u])
    base = Path(tempfile.mkdtemp(prefix="asyncio-course-hub-"))
    hub = LocalHub(base, instructors, students, env_path=env, port=args.port)
    try:
        hub.prepare()
        hub.start()
        hub.wait_ready()
        say(f"JupyterHub is at {hub.url}/  (log: {hub.log_path})")
        say(f"instructor: {', '.join(instructors)}; course folder {hub.course} (mode 700)")
        say(f"students: {', '.join(students)}; exchange {hub.exchange}")
        say(f"instructors grade at {hub.url}/services/grading/ (or in a terminal: "
            f"python -m grader autograde --course {hub.course})")
        for u, password in created.items():
            say(f"  log in as {u} with password {password}")
        if not created:
            say("  users log in with their system passwords")
        say("Instructor: Nbgrader > Formgrader > Generate, then Release. Students: "
            "Nbgrader > Assignment List > Fetch, then Submit. Ctrl-C stops the hub.")
        while hub.proc.poll() is None:
            time.sleep(1)
        say(f"JupyterHub exited:\n{hub.log_tail()}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        hub.stop()
        for u in created:
            remove_user(u)
        if created:
            say(f"removed the users created for the trial: {', '.join(created)}")
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/localhub.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="build or refresh the hub's environment")
    run = sub.add_parser("run", help="start a hub for a class (as root)")
    run.add_argument("--instructor", default="asyncio-teacher")
    run.add_argument("--student", action="append", metavar="USER",
                     help="a student's user name (repeat; default: asyncio-student1 and 2)")
    run.add_argument("--create-users", action="store_true",
                     help="create missing users with random passwords; removed at exit")
    run.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        if args.command == "setup":
            print(setup())
            return 0
        return cmd_run(args)
    except SetupError as exc:
        say(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
