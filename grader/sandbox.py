"""Bounds around a student's kernel: memory, processes, file sizes and where it may write.

:class:`grader.preprocessors.SandboxedKernelManager` starts every grading kernel through this
module (which imports nothing but the standard library, so that it starts fast)::

    python -m grader.sandbox --write DIR [--write DIR ...] --memory BYTES --procs N
        --file-size BYTES [--cgroup NAME] -- <the kernel's own command>

which, before it becomes the kernel (``exec``), applies

- resource limits that the kernel cannot raise again: address space (a 10 GB allocation
  fails with MemoryError), the size of any file written, no core dumps, and, unless
  running as root (for whom Linux ignores it), the number of processes;
- a Linux ``pids`` cgroup with a process limit, where the grader may create one (as root in
  a container): a fork bomb stops at that limit;
- Landlock (Linux 5.13+): the kernel may write only below its own folder (the autograded
  copy of this submission), its private temporary folder and ``/dev/shm``; the gradebook,
  other students' files and the course's sources cannot be written or deleted;
- a lower CPU priority, so the grader that watches it stays responsive.

What could not be applied on this machine is said in the environment variable
``GRADER_SANDBOX``, which the grading guard reports.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource

# Landlock: linux/landlock.h
_WRITE_ACCESS = [
    1 << 1,   # WRITE_FILE
    1 << 4,   # REMOVE_DIR
    1 << 5,   # REMOVE_FILE
    1 << 6,   # MAKE_CHAR
    1 << 7,   # MAKE_DIR
    1 << 8,   # MAKE_REG
    1 << 9,   # MAKE_SOCK
    1 << 10,  # MAKE_FIFO
    1 << 11,  # MAKE_BLOCK
    1 << 12,  # MAKE_SYM
]
_REFER, _TRUNCATE = 1 << 13, 1 << 14
_FILE_ONLY = (1 << 1) | _TRUNCATE
_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
PIDS_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_writes_only_below(folders: list[str]) -> str:
    """Allow writes only below ``folders`` (and to devices such as /dev/null), for this
    process and every process it starts. Returns "" on success or why it is not applied."""
    calls = _SYSCALLS.get(os.uname().machine)
    if calls is None:
        return f"no Landlock on {os.uname().machine}"
    create, add_rule, restrict = calls
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(create, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return "Landlock is not available in this Linux kernel"
    handled = sum(_WRITE_ACCESS) | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    attr = ctypes.c_uint64(handled)
    ruleset = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(8), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock refused the rules ({os.strerror(ctypes.get_errno())})"
    try:
        rules = [(f, handled) for f in folders] + [("/dev", _FILE_ONLY & handled)]
        for folder, access in rules:
            if not os.path.exists(folder):
                continue
            fd = os.open(folder, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneath(access, fd)
                if libc.syscall(add_rule, ruleset, 1, ctypes.byref(rule), 0) != 0:
                    return f"Landlock refused {folder} ({os.strerror(ctypes.get_errno())})"
            finally:
                os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            return "could not set no_new_privs"
        if libc.syscall(restrict, ruleset, 0) != 0:
            return f"Landlock could not be applied ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    return ""


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


def user_tasks(uid: int) -> int:
    """Processes and threads that ``uid`` runs now."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields.get("Threads", "1"))
        except (OSError, KeyError, ValueError):
            continue
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m grader.sandbox")
    parser.add_argument("--write", action="append", default=[])
    parser.add_argument("--memory", type=int, default=0)
    parser.add_argument("--procs", type=int, default=0)
    parser.add_argument("--file-size", type=int, default=0)
    parser.add_argument("--cgroup", default="")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    missing = []
    if args.memory:
        resource.setrlimit(resource.RLIMIT_AS, (args.memory, args.memory))
    if args.file_size:
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_size, args.file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.procs:
        if os.getuid() != 0:  # the limit counts every process of this user: add those
            limit = args.procs + user_tasks(os.getuid())
            resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
        why = join_pids_cgroup(args.cgroup, args.procs) if args.cgroup else "no cgroup asked"
        if why and os.getuid() == 0:
            missing.append(f"process limit ({why}; ignored for root)")
    why = landlock_writes_only_below([os.path.abspath(f) for f in args.write])
    if why:
        missing.append(f"write confinement ({why})")
    try:
        os.nice(5)
    except OSError:
        pass
    os.environ["GRADER_SANDBOX"] = ("bounded" if not missing
                                    else "bounded, except: " + "; ".join(missing))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
