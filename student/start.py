"""Start JupyterLab on the course's notebooks.

    .venv/bin/python start.py          (Windows: .venv\\Scripts\\python start.py)

Extra arguments go to JupyterLab, e.g. ``--port 8890`` or ``--no-browser``. The course's
settings in ``jupyter/`` (next to this file) are added to your own Jupyter settings: the
Validate button stays; the instructor's nbgrader tools and the news pop-up are off.
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def course_python() -> Path | None:
    """The Python of the kit's virtual environment (.venv next to this file), if any."""
    for candidate in (HERE / ".venv" / "bin" / "python", HERE / ".venv" / "Scripts" / "python.exe"):
        if candidate.exists():
            return candidate
    return None


def run(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``command`` in place of this process (on Windows: as a child, waited for), so that
    Ctrl+C reaches JupyterLab alone, which then asks whether to stop."""
    if os.name == "posix":
        os.execve(command[0], command, env if env is not None else os.environ)
    child = subprocess.Popen(command, env=env)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue


def main(args: list[str]) -> int:
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        python = course_python()
        if python is None or Path(sys.prefix).resolve() == (HERE / ".venv").resolve():
            sys.exit("JupyterLab is not installed. Install the course first (README.md):\n"
                     "  python3 -m venv .venv && .venv/bin/pip install -r requirements.txt")
        return run([str(python), str(Path(__file__).resolve()), *args])
    env = dict(os.environ)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        p for p in (str(HERE / "jupyter"), env.get("JUPYTER_CONFIG_PATH")) if p)
    os.chdir(HERE / "notebooks")
    return run([sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={HERE / 'notebooks'}",
                *args], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
