"""An answer cell that looks for everything secret a grading kernel could read."""

from pathlib import Path

import nbformat
from _build import ASSIGNMENT, Expect, answered, cell_of, solution, write

KIND = "Isolation"
ATTACK = ("The `download_all` cell reads the instructor's solutions (hidden tests included), "
          "the course's configuration, the gradebook, a classmate's submission, the "
          "notebook being graded (it holds the hidden tests), other processes' command "
          "lines and kernels' connection files, and the grader's environment; then prints "
          "what it found.")
OUTCOME = ("The kernel runs in a bubblewrap sandbox that holds only Python, the course's "
           "packages and a private copy of its folder without notebooks: nothing is found, "
           "the right answers keep full marks.")
EXPECT = Expect("graded", scores="full")

CLASSMATE = "control_solved"
SNOOP = '''
import glob, os, sys
_found = []
_own = sys.argv[sys.argv.index("-f") + 1]  # this kernel's own connection file
_others = [p for p in glob.glob("/tmp/*/conn/*.json") + glob.glob("/tmp/*/*.json")
           + glob.glob("/root/.local/share/jupyter/runtime/*.json") if p != _own]
for _path in {paths!r} + glob.glob("*.ipynb") + _others:
    try:
        with open(_path, "rb") as _f:
            _f.read(64)
        _found.append(_path)
    except OSError:
        pass
for _proc in glob.glob("/proc/[0-9]*/cmdline"):
    try:
        if b"ipykernel" in open(_proc, "rb").read() and _proc not in (f"/proc/{{os.getpid()}}/cmdline", "/proc/1/cmdline"):
            _found.append(_proc)
    except OSError:
        pass
_found += [k for k in os.environ if "TOKEN" in k or k.startswith(("JUPYTERHUB", "SUDO"))]
print(f"SNOOPED {{len(_found)}}: {{_found}}")
'''


def targets(root: Path) -> list[str]:
    return [str(root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
            str(root / "grading" / "gradebook.db"),
            str(root / "grading" / "submitted" / CLASSMATE / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
            str(root / "nbgrader_config.py"), "/etc/shadow", "/root/.bash_history"]


def submit(root: Path, student: str) -> None:
    snoop = SNOOP.format(paths=targets(root))
    write(root, student, answered(root, download_all=solution(root, "download_all") + snoop))


def after(root: Path, student: str) -> None:
    graded = root / "grading" / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    cell = cell_of(nbformat.read(graded, as_version=4), "download_all")
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert "SNOOPED 0: []" in text, f"the sandbox let the answer read secrets: {text[:500]}"
