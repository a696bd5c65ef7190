"""JupyterHub for the asyncio course on one machine: local users, one course.

Students and instructors are system users of this machine. Each logs in with their system
password (PAM) and gets their own JupyterLab, started as that user (LocalProcessSpawner).
Students fetch and submit through nbgrader's exchange folder; instructors release, collect,
grade and return feedback from the course folder, which only instructors can read.

Start it as root, from the environment that holds the hub, nbgrader and the course::

    ASYNCIO_HUB_INSTRUCTORS=ada ASYNCIO_HUB_STUDENTS=bob,carol \\
        /opt/asyncio-course/venv/bin/jupyterhub -f deploy/jupyterhub_config.py

Everything is set through the environment (a systemd unit's ``Environment=`` lines, or
``make hub``), with these defaults (see deploy/README.md):

ASYNCIO_HUB_INSTRUCTORS   comma-separated user names (required)
ASYNCIO_HUB_STUDENTS      comma-separated user names, and/or
ASYNCIO_HUB_ROSTER        a file with one student user name per line
ASYNCIO_HUB_COURSE        the course folder: ~INSTRUCTOR/asyncio-course (first instructor)
ASYNCIO_HUB_EXCHANGE      nbgrader's exchange: /srv/nbgrader/exchange
ASYNCIO_HUB_STATE         the hub's database, cookie secret, pid files: /srv/jupyterhub
ASYNCIO_HUB_URL           where the hub listens: http://127.0.0.1:8000
ASYNCIO_HUB_API_PORT      the hub's own port on 127.0.0.1 (for the proxy and the servers): 8081
ASYNCIO_HUB_PROXY_PORT    the proxy's API port on 127.0.0.1: 8001
ASYNCIO_HUB_IDLE_TIMEOUT  stop a server idle this many seconds: 3600
ASYNCIO_HUB_PROXY         configurable-http-proxy: deploy/node_modules/.bin/ (npm ci there)
"""

import os
import pwd
import sys

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = sys.prefix  # the hub's environment serves every user too: one install of everything


def _names(text):
    return [n.strip() for n in text.replace("\n", ",").split(",") if n.strip()]


INSTRUCTORS = _names(os.environ.get("ASYNCIO_HUB_INSTRUCTORS", ""))
if not INSTRUCTORS:
    raise SystemExit("Set ASYNCIO_HUB_INSTRUCTORS to the user name(s) of the instructor(s).")
STUDENTS = _names(os.environ.get("ASYNCIO_HUB_STUDENTS", ""))
if os.environ.get("ASYNCIO_HUB_ROSTER"):
    with open(os.environ["ASYNCIO_HUB_ROSTER"]) as roster:
        STUDENTS += [n for n in _names(roster.read()) if not n.startswith("#")]
both = sorted(set(INSTRUCTORS) & set(STUDENTS))
if both:
    raise SystemExit(f"Users cannot be both instructor and student: {', '.join(both)}")

COURSE = os.environ.get("ASYNCIO_HUB_COURSE") or os.path.join(
    pwd.getpwnam(INSTRUCTORS[0]).pw_dir, "asyncio-course")
EXCHANGE = os.environ.get("ASYNCIO_HUB_EXCHANGE", "/srv/nbgrader/exchange")
STATE = os.environ.get("ASYNCIO_HUB_STATE", "/srv/jupyterhub")
# The role folders (deploy/jupyter/) are copied into the environment by
# `python deploy/localhub.py setup`, where every user can read them.
ROLES = os.path.join(ENV, "etc", "asyncio-course")

# --- who may log in -----------------------------------------------------------------------
# PAM: users log in with their system password. The hub runs as root for this and to
# start each server as its user.
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(INSTRUCTORS) | set(STUDENTS)
# Groups show the roles in the hub's admin page; the roles themselves come from the
# lists above (pre_spawn_hook), so a group edited in the admin page changes nothing.
c.JupyterHub.load_groups = {
    "instructors": {"users": INSTRUCTORS},
    "students": {"users": STUDENTS},
}

# --- where it listens and keeps its state -------------------------------------------------
c.JupyterHub.bind_url = os.environ.get("ASYNCIO_HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{os.environ.get('ASYNCIO_HUB_API_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{os.environ.get('ASYNCIO_HUB_PROXY_PORT', '8001')}")
c.ConfigurableHTTPProxy.command = [os.environ.get("ASYNCIO_HUB_PROXY") or os.path.join(
    HERE, "node_modules", ".bin", "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "jupyterhub-proxy.pid")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(STATE, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(STATE, "jupyterhub.pid")

# --- each user's server -------------------------------------------------------------------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(ENV, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90  # a server starts in 5-9 s on a busy 2-core machine
# The environment's programs first: nbgrader starts alembic and jupyter by name, and
# `python` in a terminal is the course's Python.
c.Spawner.environment = {
    "PATH": os.pathsep.join([os.path.join(ENV, "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
    "ASYNCIO_EXCHANGE": EXCHANGE,
}


def pre_spawn_hook(spawner):
    """Instructors get the formgrader and the course; students only the Assignments list.

    Jupyter reads the role's folder before the common one (JUPYTER_CONFIG_PATH): see
    deploy/jupyter/. Hiding the instructor's tools from students is for clarity; what
    keeps the course secret is that students cannot read the course folder."""
    role = "instructor" if spawner.user.name in INSTRUCTORS else "student"
    env = dict(spawner.environment)  # a copy: the configured dict is shared by all spawners
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [os.path.join(ROLES, role), os.path.join(ROLES, "common")])
    if role == "instructor":
        env["ASYNCIO_COURSE"] = COURSE
    spawner.environment = env


c.Spawner.pre_spawn_hook = pre_spawn_hook

# --- idle servers are stopped -------------------------------------------------------------
# About 280 MiB per active student (deploy/README.md); a server left open is stopped after
# ASYNCIO_HUB_IDLE_TIMEOUT seconds without activity. Work is saved in the home folder.
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                f"--timeout={int(os.environ.get('ASYNCIO_HUB_IDLE_TIMEOUT', '3600'))}"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]

# --- grading as a hub service (optional) --------------------------------------------------
# ASYNCIO_HUB_GRADING_SERVICE=1: a JupyterLab of its own for grading, at /services/grading/,
# run as the first instructor on the course, open to every instructor. The formgrader's
# buttons (Autograde grades inside the server that shows it) and `python -m grader` in its
# terminal then never slow down the instructors' own servers. Another ~150 MiB, always on.
if os.environ.get("ASYNCIO_HUB_GRADING_SERVICE") == "1":
    owner = pwd.getpwnam(INSTRUCTORS[0])
    c.JupyterHub.services.append({
        "name": "grading",
        "url": f"http://127.0.0.1:{os.environ.get('ASYNCIO_HUB_GRADING_PORT', '8082')}",
        "command": c.Spawner.cmd,
        "user": owner.pw_name,
        "cwd": owner.pw_dir,
        "environment": {
            **c.Spawner.environment,
            "JUPYTERHUB_DEFAULT_URL": "/lab",
            "JUPYTER_CONFIG_PATH": os.pathsep.join(
                [os.path.join(ROLES, "instructor"), os.path.join(ROLES, "common")]),
            "ASYNCIO_COURSE": COURSE,
        },
        "oauth_no_confirm": True,
    })
    c.JupyterHub.load_roles.append({
        "name": "grading",
        "groups": ["instructors"],
        "scopes": ["access:services!service=grading"],
    })
