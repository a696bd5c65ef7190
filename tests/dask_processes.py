"""A `dask scheduler` and `dask worker`s started as separate programs on 127.0.0.1, each in a
folder of its own, so that nothing is shared with the grading process but the network: what
an instructor's cluster looks like, on one machine. Used by tests/test_cluster.py and by
bench/grading.py."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

DASK = Path(sys.executable).parent / "dask"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskProcesses:
    """A scheduler and ``workers`` worker processes (one thread each); all of them stopped,
    with what they started, on the way out."""

    def __init__(self, tmp: Path, workers: int = 2, preload: Path | None = None):
        self.tmp, self.procs = Path(tmp), []
        self.address = f"tcp://127.0.0.1:{free_port()}"
        try:
            self.start([str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                        self.address.rsplit(":", 1)[1], "--no-dashboard"], "scheduler")
            cmd = [str(DASK), "worker", self.address, "--nworkers", str(workers),
                   "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                   "--local-directory", str(self.tmp / "dask-space"),
                   "--preload", "grader.cluster"]  # as the README launches them
            self.start(cmd + (["--preload", str(preload)] if preload else []), "workers")
        except BaseException:
            self.close()
            raise
        self.workers = workers

    def start(self, cmd: list[str], name: str) -> None:
        folder = self.tmp / name
        folder.mkdir(parents=True, exist_ok=True)
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115
        env = dict(os.environ, TMPDIR=str(folder))  # where a worker grades
        self.procs.append(subprocess.Popen(cmd, cwd=folder, stdout=log, stderr=log, env=env,
                                           start_new_session=True))
        log.close()

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=60, set_as_default=False)

    def wait_ready(self, client=None, timeout: float = 90) -> None:
        """Until every worker has joined (with a client of its own if none is given)."""
        own = client is None
        client = self.client() if own else client
        try:
            client.wait_for_workers(self.workers, timeout=timeout)
        finally:
            if own:
                client.close()

    def kill_scheduler(self) -> None:
        self.procs[0].send_signal(signal.SIGKILL)
        self.procs[0].wait(10)

    def close(self) -> None:
        """Each program's process group (it runs in a session of its own): the workers first,
        so that their kernels go with them; SIGKILL for what does not stop within 15 s."""
        for proc in reversed(self.procs):  # even if it ended: what it started may not have
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@contextlib.contextmanager
def dask_processes(tmp: Path, **kwargs):
    procs = DaskProcesses(tmp, **kwargs)
    try:
        yield procs
    finally:
        procs.close()
