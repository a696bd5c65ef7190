"""The sandbox around a student's grading kernel: bubblewrap, a network of its own, bounds.

Every grading kernel is started through this module (which imports nothing but the
standard library, so that it starts fast)::

    python -m grader.sandbox [options] -- <the kernel's own command>

The launcher it runs stays outside the sandbox and

1. gives the kernel a network namespace of its own (only loopback, no route out), and
   listens there on ``127.0.0.1:8765`` for the course's demo server. The server process
   is started on the first connection (notebooks without HTTP never pay for it), outside
   the kernel's sandbox: the kernel reaches it over TCP only, so the statistics it keeps
   (requests in flight...) cannot be rewritten by an answer;
2. moves itself into a ``pids`` cgroup (a fork bomb stops at the limit) and sets resource
   limits that the kernel cannot raise again: address space, size of any file written, no
   core dumps; and a lower CPU priority, so the grader that watches it stays responsive;
3. runs the kernel under bubblewrap (``bwrap``), as an unprivileged user (65534) with
   pid, IPC, UTS and mount namespaces of its own. It sees, read-only, only the Python
   installation, the course's packages (``asynclab``, ``grader``) and a few system files;
   it may write only to a private copy of its working folder (without the notebooks that
   hold the hidden tests), a private ``/tmp`` and a private ``/dev/shm``. The solutions,
   the gradebook, other students' files, other kernels and their connection files are
   not in its file system; it talks to the grader over ZMQ's ``ipc`` transport through
   sockets in a folder bound for it alone. It is process 1 of its pid namespace, so
   everything it starts dies with it, ``setsid`` or not;
4. forwards the interrupt signal to the kernel and, when the kernel ends, stops the demo
   server and ends too. If the launcher is killed, bubblewrap and the kernel die with it
   (``--die-with-parent``), and so does the demo server (parent-death signal); if the
   grading process that started the launcher is killed outright, the launcher sees it go
   (a pidfd) and ends the sandbox.

:func:`probe` tells whether such a sandbox can be made on this machine, and if not, why
and how to get it. ``--no-sandbox`` keeps only the resource limits (for machines where
bubblewrap cannot run; grading then trusts the submissions, and says so).
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys

#: where the demo server listens inside every sandbox (each has its own network)
DEMO_HOST, DEMO_PORT = "127.0.0.1", 8765
#: the user a sandboxed kernel runs as ("nobody")
SANDBOX_UID = SANDBOX_GID = 65534
PIDS_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")
#: system files a Python kernel needs (name resolution of localhost, shared libraries,
#: time zone, certificates, fonts, the names of users and groups); nothing else of /etc
ETC_FILES = ("hosts", "nsswitch.conf", "host.conf", "ld.so.cache", "ld.so.conf",
             "ld.so.conf.d", "localtime", "ssl", "ca-certificates", "fonts", "passwd",
             "group", "mime.types", "alternatives")
HOW_TO_GET_IT = ("install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; "
                 "Fedora: sudo dnf install bubblewrap) and grade as root or on a system "
                 "that allows unprivileged user namespaces; or pass --no-sandbox to grade "
                 "without isolation (only for submissions you trust)")

_CLONE_NEWNET, _CLONE_NEWUSER = 0x40000000, 0x10000000
_PR_SET_PDEATHSIG = 1


# ------------------------------------------------------------------ the kernel's side


def bwrap_args(*, work: str, work_at: str, tmp: str, shm: str, read_only: list[str],
               env: dict[str, str], privileged: bool, conn: str | None = None) -> list[str]:
    """The bubblewrap command line (without the command to run) for one kernel, or for the
    demo server beside it: what it sees read-only, its writable folders (``work`` shown at
    ``work_at``, ``tmp`` at /tmp, ``shm`` at /dev/shm, ``conn`` at its own path), its
    environment. ``privileged``: bubblewrap runs as root and ``setpriv`` drops to the
    sandbox user; otherwise a user namespace maps the sandbox user to the caller."""
    # bubblewrap's own init is process 1 of the kernel's pid namespace (no --as-pid-1): when
    # it dies, with the launcher or with the kernel, Linux kills every process left in the
    # namespace, whatever user it runs as (a parent-death signal would not reach a kernel
    # that changed its user)
    args = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "grading"]
    if privileged:  # bwrap runs as root: setpriv, inside, drops to the sandbox user
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = "/" + top
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
             "--bind", tmp, "/tmp", "--bind", shm, "/dev/shm"]
    binds = [("--ro-bind", os.path.join("/etc", name), os.path.join("/etc", name))
             for name in ETC_FILES if os.path.exists(os.path.join("/etc", name))]
    binds += [("--ro-bind", path, path) for path in _outermost(read_only)]
    binds += [("--bind", conn, conn)] if conn else []
    binds += [("--bind", work, work_at)]
    made: set[str] = {"/", "/tmp", "/dev", "/usr", "/proc"}
    for kind, source, dest in binds:
        # bubblewrap makes missing parent folders private to root: make them readable
        parents = []
        parent = os.path.dirname(dest)
        while parent not in made:
            parents.append(parent)
            made.add(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(parents):
            args += ["--perms", "0755", "--dir", folder]
        args += [kind, source, dest]
    args += ["--chdir", work_at, "--clearenv"]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    if privileged:
        args += ["--", shutil.which("setpriv") or "setpriv",
                 f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups",
                 "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
    return args + ["--"]


def _outermost(paths: list[str]) -> list[str]:
    """Existing paths, without those inside another one of the list or inside /usr."""
    real = sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)})
    out: list[str] = []
    for path in real:
        if path == "/usr" or path.startswith("/usr/"):
            continue
        if not any(path == o or path.startswith(o.rstrip("/") + "/") for o in out):
            out.append(path)
    return out


def python_paths() -> list[str]:
    """What the kernel's Python needs to read: its installation and the virtualenv."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(paths)


def probe() -> str:
    """"" if a sandboxed kernel can be started here, else why not and how to get it."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (this is {sys.platform}); " + HOW_TO_GET_IT
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed; " + HOW_TO_GET_IT
    privileged = os.getuid() == 0
    if privileged and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed; " + HOW_TO_GET_IT
    cmd = [sys.executable, "-m", "grader.sandbox", "--probe"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, PYTHONPATH=_grader_path()))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"a test sandbox could not be started ({exc}); " + HOW_TO_GET_IT
    if out.returncode != 0 or out.stdout.strip() != "sandboxed":
        why = " ".join((out.stderr or out.stdout).split())[:300] or f"exit {out.returncode}"
        return f"a test sandbox could not be started ({why}); " + HOW_TO_GET_IT
    return ""


_PROBED: str | None = None


def probe_cached() -> str:
    """:func:`probe`, run once per process."""
    global _PROBED
    if _PROBED is None:
        _PROBED = probe()
    return _PROBED


def _grader_path() -> str:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))


def _probe_inside() -> int:
    """Run a tiny sandbox the way kernels are run, and print what it saw."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="grading-probe-") as top:
        dirs = {k: os.path.join(top, k) for k in ("work", "conn", "tmp", "shm")}
        for d in dirs.values():
            os.makedirs(d)
        own(list(dirs.values()))
        args = bwrap_args(work=dirs["work"], work_at=dirs["work"], conn=dirs["conn"],
                          tmp=dirs["tmp"], shm=dirs["shm"], read_only=python_paths(),
                          env={"PATH": "/usr/bin:/bin"}, privileged=os.getuid() == 0)
        check = (f"import os; assert os.getuid() == {SANDBOX_UID} and os.getpid() == 2; "
                 "open('/tmp/x', 'w').write('x'); print('sandboxed')")
        try:
            enter_network()
        except OSError as exc:
            print(f"no network namespace: {exc}", file=sys.stderr)
            return 1
        done = subprocess.run(args + [os.path.realpath(sys.executable), "-c", check],
                              capture_output=True, text=True, timeout=20)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.returncode


def own(paths: list[str], chown: bool | None = None) -> None:
    """Give folders to the sandbox user (when the grader is root), private to it."""
    for path in paths:
        if os.getuid() == 0 if chown is None else chown:
            os.chown(path, SANDBOX_UID, SANDBOX_GID)
        os.chmod(path, 0o700)


# ---------------------------------------------------------------------- the launcher


def enter_network() -> None:
    """Move this process into a new network namespace with loopback up (and, when not
    root, into a user namespace that makes that possible)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if os.getuid() != 0:
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(user, net): "
                          + os.strerror(ctypes.get_errno()))
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                           ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    elif libc.unshare(_CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(net): " + os.strerror(ctypes.get_errno()))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = 0x1 | 0x8 | 0x40  # IFF_UP | IFF_LOOPBACK | IFF_RUNNING
        fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags))  # SIOCSIFFLAGS


def join_pids_cgroup(name: str, limit: int) -> str:
    """Move this process into a new pids cgroup with ``limit`` processes at most."""
    for root in PIDS_ROOTS:
        if not os.path.exists(os.path.join(root, "cgroup.procs")):
            continue
        folder = os.path.join(root, name)
        try:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "pids.max"), "w") as f:
                f.write(str(limit))
            with open(os.path.join(folder, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            return ""
        except OSError:
            try:
                os.rmdir(folder)
            except OSError:
                pass
            continue
    return "no pids cgroup"


def remove_cgroup(name: str) -> None:
    for root in PIDS_ROOTS:
        try:
            os.rmdir(os.path.join(root, name))
        except OSError:
            pass


def remove_stale_cgroups(prefix: str = "asyncio-course-") -> None:
    """Remove empty cgroups left by graders that were killed outright."""
    for root in PIDS_ROOTS:
        try:
            names = [n for n in os.listdir(root) if n.startswith(prefix)]
        except OSError:
            continue
        for name in names:
            try:
                with open(os.path.join(root, name, "cgroup.procs")) as f:
                    if f.read().strip():
                        continue
                os.rmdir(os.path.join(root, name))
            except OSError:
                pass


def cgroup_tasks(name: str) -> int | None:
    """Processes and threads in the kernel's cgroup now (None without a cgroup)."""
    for root in PIDS_ROOTS:
        try:
            with open(os.path.join(root, name, "pids.current")) as f:
                return int(f.read())
        except (OSError, ValueError):
            continue
    return None


def _set_limits(args) -> None:
    if args.memory:
        resource.setrlimit(resource.RLIMIT_AS, (args.memory, args.memory))
    if args.file_size:
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_size, args.file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        os.nice(5)
    except OSError:
        pass


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Launcher:
    """Runs one sandboxed kernel and, on demand, its demo server."""

    def __init__(self, args, command: list[str]):
        self.args = args
        self.command = command
        self.init_pid: int | None = None  # bubblewrap's init, process 1 of the namespace
        self.server: subprocess.Popen | None = None
        self.listener: socket.socket | None = None
        self.real_root = os.getuid() == 0  # before a user namespace makes us "root"

    def run(self) -> int:
        args = self.args
        missing = []
        if args.demo_port:
            enter_network()
            self.listener = socket.create_server((DEMO_HOST, args.demo_port), backlog=512)
        if args.procs:
            why = join_pids_cgroup(args.cgroup, args.procs) if args.cgroup else "no cgroup asked"
            if why:
                missing.append(f"process limit ({why})")
        _set_limits(args)
        env_note = "sandboxed" if not missing else "sandboxed, except: " + "; ".join(missing)
        command = [a.replace("@GRADER_SANDBOX@", env_note) for a in self.command]
        # the grading process: when it goes, the kernel goes. Named by the grading process
        # itself: if it died while this launcher was starting, os.getppid() would already
        # name init (or a subreaper), which never goes, and the kernel would outlive it
        self.parent = args.parent or os.getppid()
        info_r, info_w = os.pipe()
        bwrap = command[:1] + ["--info-fd", str(info_w)] + command[1:]
        child = subprocess.Popen(bwrap, pass_fds=(info_w,), start_new_session=True,
                                 stdin=subprocess.DEVNULL)
        os.close(info_w)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, self._forward)
        try:
            return self._loop(child, info_r)
        finally:
            self._stop_server()

    def _orphaned(self, child: subprocess.Popen) -> int:
        """The grading process is gone: end the sandbox (bubblewrap's init, and with it
        everything in its pid namespace) and stop."""
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
        return child.wait()

    def _forward(self, signum, _frame) -> None:
        target = kernel_of(self.init_pid) if self.init_pid else None
        try:
            if target:
                os.kill(target, signal.SIGKILL if signum == signal.SIGQUIT else signum)
        except OSError:
            pass

    def _loop(self, child: subprocess.Popen, info_r: int) -> int:
        sel = selectors.DefaultSelector()
        pidfd = os.pidfd_open(child.pid)
        sel.register(pidfd, selectors.EVENT_READ, "exit")
        sel.register(info_r, selectors.EVENT_READ, "info")
        try:  # a grading process killed outright (SIGKILL) takes its kernels with it
            sel.register(os.pidfd_open(self.parent), selectors.EVENT_READ, "orphaned")
        except OSError:
            pass
        if os.getppid() != self.parent:  # it went before we watched it
            return self._orphaned(child)
        if self.listener is not None:
            sel.register(self.listener, selectors.EVENT_READ, "server")
        info = b""
        while True:
            for key, _ in sel.select():
                if key.data == "exit":
                    return child.wait()
                if key.data == "orphaned":
                    return self._orphaned(child)
                if key.data == "info":
                    chunk = os.read(info_r, 4096)
                    if not chunk:
                        sel.unregister(info_r)
                        os.close(info_r)
                        self._note_kernel(info)
                    info += chunk
                elif key.data == "server":
                    sel.unregister(self.listener)
                    self._start_server()

    def _note_kernel(self, info: bytes) -> None:
        try:
            self.init_pid = int(json.loads(info.decode())["child-pid"])
        except (ValueError, KeyError, UnicodeDecodeError):
            return
        if self.args.state:
            tmp = os.path.join(self.args.state, "init.pid.tmp")
            with open(tmp, "w") as f:
                f.write(str(self.init_pid))
            os.replace(tmp, os.path.join(self.args.state, "init.pid"))

    def _start_server(self) -> None:
        """The demo server, on the socket listening since before the kernel started: as
        the sandbox user, under a bubblewrap of its own (it sees what the kernel sees, and
        shares only the kernel's network), outside the kernel's pid namespace."""
        fd = self.listener.fileno()
        cmd = [sys.executable, "-m", "asynclab.server", "--fd", str(fd), "--exit-with-stdin"]
        if self.args.server_dir:
            folders = {k: os.path.join(self.args.server_dir, k) for k in ("work", "tmp", "shm")}
            for folder in folders.values():
                os.makedirs(folder, exist_ok=True)
            own(list(folders.values()), chown=self.real_root)
            env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
                   "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
            cmd = bwrap_args(work=folders["work"], work_at="/srv", tmp=folders["tmp"],
                             shm=folders["shm"], read_only=self.args.read_only, env=env,
                             privileged=self.real_root) + cmd
        try:
            self.server = subprocess.Popen(
                cmd, pass_fds=(fd,), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                start_new_session=True)
        except OSError:
            self.server = None

    def _stop_server(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        try:
            server.stdin.close()
            server.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            server.kill()
            server.wait()


def kernel_of(init_pid: int) -> int | None:
    """The kernel: the process bubblewrap's init started (its only child)."""
    try:
        with open(f"/proc/{init_pid}/task/{init_pid}/children") as f:
            children = f.read().split()
        return int(children[0]) if children else None
    except (OSError, ValueError):
        return None


def _exec_unsandboxed(args, command: list[str]) -> None:
    """--no-sandbox: the resource limits only, then become the kernel."""
    missing = []
    if args.procs:
        why = join_pids_cgroup(args.cgroup, args.procs) if args.cgroup else "no cgroup asked"
        if why:
            missing.append(f"process limit ({why})")
    _set_limits(args)
    os.environ["GRADER_SANDBOX"] = "no sandbox (--no-sandbox): the kernel could read and " \
        "reach everything the grader can" + (f"; also missing: {'; '.join(missing)}"
                                             if missing else "")
    os.execvp(command[0], command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.sandbox")
    parser.add_argument("--memory", type=int, default=0)
    parser.add_argument("--procs", type=int, default=0)
    parser.add_argument("--file-size", type=int, default=0)
    parser.add_argument("--cgroup", default="")
    parser.add_argument("--state", default="", help="folder to write the kernel's pid to")
    parser.add_argument("--parent", type=int, default=0,
                        help="the grading process's pid (default: this process's parent)")
    parser.add_argument("--demo-port", type=int, default=0)
    parser.add_argument("--server-dir", default="",
                        help="folder for the demo server's sandbox (none: no sandbox)")
    parser.add_argument("--ro", dest="read_only", action="append", default=[],
                        help="what the demo server's sandbox may read")
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.probe:
        return _probe_inside()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    if args.no_sandbox:
        _exec_unsandboxed(args, command)
    return Launcher(args, command).run()


if __name__ == "__main__":
    sys.exit(main())
