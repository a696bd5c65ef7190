"""An answer starts a process in its own session that hunts for later grading kernels."""

import hashlib
import os
from pathlib import Path

from _build import ASSIGNMENT, Expect, answered, solution, solved, write

from grader import records
from grader.autograde import autograde

KIND = "Isolation"
ATTACK = ("The `download_all` cell starts a process in a session of its own "
          "(`os.posix_spawn(..., setsid=True)`) that runs for two minutes, looks for other "
          "kernels through `/proc/*/cmdline`, reads their connection files and sends them "
          "code that kills them; it also leaves files in `/dev/shm` and `/tmp`.")
OUTCOME = ("The kernel has a pid namespace of its own and sees no other kernel; processes "
           "an answer cell leaves running are stopped and reported, and all die with the "
           "kernel in any case: no file the answer wrote is left, and a classmate graded in a "
           "later run keeps full marks.")
EXPECT = Expect("graded", scores="full", flags=["process(es) running: they were stopped"])

MARKER = "hostile-hunter-{}"  # + a hash of the course folder: unique to this run
VICTIM = "outlives_kernel_victim"
EXTRA_STUDENTS = [VICTIM]  # graded by after(), in a later run
HUNTER = '''
import glob, sys, time
from jupyter_client import BlockingKernelClient
deadline = time.time() + 120
while time.time() < deadline:
    for cmd in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = open(cmd, "rb").read().split(b"\\0")
            if b"ipykernel_launcher" not in args or cmd == f"/proc/{sys.argv[2]}/cmdline":
                continue
            conn = args[args.index(b"-f") + 1].decode()
            kc = BlockingKernelClient(connection_file=conn)
            kc.load_connection_file()
            kc.start_channels()
            kc.execute("import os; os._exit(1)")
        except Exception:
            pass
    time.sleep(0.2)
'''
SPAWN = '''
import os, sys
for _folder in ("/dev/shm", "/tmp"):
    open(os.path.join(_folder, "{marker}"), "w").write("left behind")
os.posix_spawn(sys.executable, [sys.executable, "-c", {hunter!r}, "{marker}", str(os.getpid())],
               os.environ, setsid=True)
'''


def marker(root: Path) -> str:
    return MARKER.format(hashlib.sha1(str(root).encode()).hexdigest()[:10])


def submit(root: Path, student: str) -> None:
    spawn = SPAWN.format(marker=marker(root), hunter=HUNTER)
    write(root, student, answered(root, download_all=solution(root, "download_all") + spawn))


def hunters(root: Path) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and marker(root).encode() in \
                    open(f"/proc/{entry.name}/cmdline", "rb").read():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def after(root: Path, student: str) -> None:
    assert not hunters(root), "the hunter process outlived its kernel"
    left = [p for p in (Path("/dev/shm") / marker(root), Path("/tmp") / marker(root))
            if p.exists()]
    assert not left, f"files the kernel wrote outside its sandbox were left: {left}"
    # a later run, as an instructor grades the next batch: the victim is untouched
    write(root, VICTIM, solved(root))
    autograde(root, [ASSIGNMENT], students=[VICTIM], jobs=1, progress=False, force=True)
    rec = records.load(root, ASSIGNMENT, VICTIM)
    assert rec.score == rec.max_score > 0, f"the classmate graded later lost points: {rec}"
