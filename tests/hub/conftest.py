"""A real JupyterHub for one class: the hub tests share it (one module-scoped fixture).

The hub is the deployed one (deploy/jupyterhub_config.py, started by deploy/localhub.py as
``make hub`` starts it), with the proxy from deploy/package-lock.json, on free ports of
127.0.0.1. Its users are real system users made for the run: an instructor and two
students, with private homes, removed afterwards (with everything that ran as them). A
test-only hub service holds an API token with which the tests act as the hub's admin
would: start servers and call each user's server (nbgrader's endpoints) on their behalf.

It needs root (to create users and for the hub to start servers as them) and the hub's
environment (``python3 deploy/localhub.py setup``, which ``make test`` runs as root). As
any other user the tests are skipped, saying so.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from grader import course

REPO = course.ROOT
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS") or REPO / "test-artifacts" / "browser")
HUB_ARTIFACTS = ARTIFACTS.parent / "hub"
COURSE_ID = "asyncio-course"


def load_localhub():
    """deploy/localhub.py, the code ``make hub`` runs (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("localhub", REPO / "deploy" / "localhub.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["localhub"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


localhub = load_localhub()


def pytest_configure(config):
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")


class HubClass:
    """The running hub and its users, with what a test does through it."""

    def __init__(self, hub, token: str, teacher: str, solved: str, untouched: str,
                 passwords: dict[str, str]):
        self.hub = hub
        self.token = token
        self.teacher, self.solved, self.untouched = teacher, solved, untouched
        self.students = [solved, untouched]
        self.passwords = passwords
        self.timings: dict[str, float] = {}
        self.facts: dict[str, object] = {}
        self.asked: dict[str, float] = {}  # user -> when their server was asked for
        self.ready: set[str] = set()

    @property
    def url(self) -> str:
        return self.hub.url

    @property
    def course(self) -> Path:
        return self.hub.course

    @property
    def exchange(self) -> Path:
        return self.hub.exchange

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    # --- HTTP through the proxy, as the admin service

    def request(self, method: str, path: str, *, form: dict | None = None, body=None,
                timeout: float = 120) -> tuple[int, object]:
        headers = {"Authorization": f"token {self.token}"}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode(errors="replace")
        try:
            return status, json.loads(text) if text.strip()[:1] in ("{", "[") else text
        except ValueError:
            return status, text

    def headers(self, path: str) -> dict[str, str]:
        """The headers of a GET answer (redirects followed), names in lower case."""
        req = urllib.request.Request(self.url + path,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return {k.lower(): v for k, v in r.headers.items()}

    def call(self, method: str, path: str, **kwargs):
        """A request that must succeed (2xx); its decoded answer."""
        status, answer = self.request(method, path, **kwargs)
        assert 200 <= status < 300, f"{method} {path}: {status} {str(answer)[:2000]}"
        return answer

    def nbgrader(self, user: str, action: str, assignment: str) -> dict:
        """A button of the student's Assignments list (fetch, submit, fetch_feedback)."""
        answer = self.call("POST", f"/user/{user}/assignments/{action}",
                           form={"course_id": COURSE_ID, "assignment_id": assignment})
        assert answer.get("success"), f"{user}: {action} {assignment} failed: {answer}"
        return answer

    def formgrader(self, action: str, assignment: str) -> dict:
        """A button of the instructor's formgrader (assign, release, collect, ...)."""
        answer = self.call("POST", f"/user/{self.teacher}/formgrader/api/assignment/"
                           f"{assignment}/{action}")
        assert answer.get("success"), f"formgrader {action} {assignment} failed: {answer}"
        return answer

    # --- servers

    def start_servers(self, *users: str) -> None:
        """Ask the hub to start the users' servers (what logging in does)."""
        for user in users:
            if user in self.asked:
                continue
            status, answer = self.request("POST", f"/hub/api/users/{user}/server")
            assert status in (201, 202), f"starting {user}'s server: {status} {answer}"
            self.asked[user] = time.monotonic()

    def wait_servers(self, *users: str, timeout: float = 150) -> None:
        """Start the users' servers if not asked yet, and wait until each is ready."""
        self.start_servers(*users)
        waiting = {u for u in users if u not in self.ready}
        while waiting:
            for user in sorted(waiting):
                server = self.call("GET", f"/hub/api/users/{user}").get("servers", {}).get("")
                if server and server.get("ready"):
                    waiting.discard(user)
                    self.ready.add(user)
                    self.timings[f"server start ({user})"] = time.monotonic() - self.asked[user]
            if waiting and time.monotonic() - min(self.asked[u] for u in waiting) > timeout:
                raise AssertionError(f"servers not ready after {timeout} s: {waiting}\n"
                                     f"{self.hub.log_tail()}")
            time.sleep(0.2)

    def processes(self, user: str) -> dict[int, str]:
        """pid -> command line of every process running as ``user``."""
        out = {}
        for pid in localhub.user_processes(pwd.getpwnam(user).pw_uid):
            with contextlib.suppress(OSError):
                out[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        return out

    @staticmethod
    def environ(pid: int) -> dict[str, str]:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)

    def server_pid(self, user: str) -> int:
        """The user's own server (not a hub service the user runs)."""
        pids = [p for p, cmd in self.processes(user).items() if "jupyterhub-singleuser" in cmd
                and "JUPYTERHUB_SERVICE_NAME" not in self.environ(p)]
        assert len(pids) == 1, f"{user}: expected one server process, found {pids}"
        return pids[0]

    def run_as(self, user: str, args: list[str], *, stdin: str | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a command as ``user`` with the environment of their server: what a command
        in their JupyterLab terminal gets (terminals inherit the server's environment)."""
        env = self.environ(self.server_pid(user))
        for name in list(env):
            if name.startswith("JUPYTERHUB_") or name.startswith("JPY_"):
                del env[name]  # the server's own credentials, not the terminal's business
        entry = pwd.getpwnam(user)
        return subprocess.run(args, user=entry.pw_uid, group=entry.pw_gid,
                              extra_groups=os.getgrouplist(user, entry.pw_gid), env=env,
                              cwd=entry.pw_dir, input=stdin, capture_output=True, text=True,
                              timeout=timeout)

    def python_as(self, user: str, code: str, *args: str, stdin: str | None = None):
        """Run Python code as ``user`` (with the hub's Python) and decode what it prints
        as JSON."""
        python = str(self.hub.env_path / "bin" / "python")
        proc = self.run_as(user, [python, "-c", code, *args], stdin=stdin)
        assert proc.returncode == 0, f"as {user}: {proc.stderr[-3000:]}"
        return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def hub_class():
    """The class's hub: started once for the module, stopped with its users afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the hub tests need root: they create system users, and the hub starts "
                    "each user's server as that user (CI runs them as root)")
    for tool in ("useradd", "userdel", "chpasswd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    start = time.monotonic()
    env = localhub.setup()  # quick when `make test` has done it
    setup_seconds = time.monotonic() - start
    localhub.remove_stale_users()
    tag = secrets.token_hex(3)
    teacher, solved, untouched = (f"ac{tag}{role}" for role in ("teach", "solved", "blank"))
    passwords = {u: secrets.token_urlsafe(12) for u in (teacher, solved, untouched)}
    base = Path(tempfile.mkdtemp(prefix="asyncio-course-hubtest-"))
    token = secrets.token_hex(24)
    service = {"name": "course-tests", "api_token": token}
    role = {"name": "course-tests", "services": ["course-tests"],
            "scopes": ["admin:users", "admin:servers", "access:servers", "list:users",
                       "list:services", "read:services", "access:services"]}
    extra = (f"c.JupyterHub.services.append({service!r})\n"
             f"c.JupyterHub.load_roles.append({role!r})\n")
    hub = None
    try:
        for user, password in passwords.items():
            localhub.create_user(user, password)
        hub = localhub.LocalHub(base, [teacher], [solved, untouched], env_path=env,
                                extra_config=extra)
        hub.prepare()
        hub.start()
        hub.wait_ready()
        cls = HubClass(hub, token, teacher, solved, untouched, passwords)
        cls.timings["environment check or setup"] = setup_seconds
        cls.timings["hub start"] = time.monotonic() - start - setup_seconds
        yield cls
        cls.timings["cycle (hub start to last test)"] = time.monotonic() - start - setup_seconds
        HUB_ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (HUB_ARTIFACTS / "cycle.json").write_text(json.dumps(
            {"seconds": {k: round(v, 3) for k, v in cls.timings.items()}, **cls.facts},
            indent=2) + "\n")
    finally:
        if hub is not None:
            hub.stop()
            with contextlib.suppress(OSError):
                HUB_ARTIFACTS.mkdir(parents=True, exist_ok=True)
                shutil.copy(hub.log_path, HUB_ARTIFACTS / "jupyterhub.log")
        with concurrent.futures.ThreadPoolExecutor() as pool:
            list(pool.map(localhub.remove_user, passwords))
        shutil.rmtree(base, ignore_errors=True)
