"""Build the student kit: the course for students who work without a hub.

    python student/build_kit.py [--zip dist/asyncio-course-student.zip] [--dir FOLDER]

(``make student-kit [KIT_DIR=FOLDER]``.) The kit holds the released notebooks
(``notebooks/``, never ``solutions/``), a wheel of ``asynclab`` alone (not the instructor's
``grader``), a ``requirements.txt`` pinned to the versions of this environment, ``start.py``
and the JupyterLab settings it applies (``student/jupyter/``), and a README for students.
Every file is checked before it goes in: no solution, no hidden test, no grader code.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the course's own code, also when run as a script

from grader import course  # noqa: E402  (the markers and names release uses)

RELEASE = ROOT / "notebooks"
KIT_NAME = "asyncio-course-student"  # the folder the zip unpacks to
# What a student's environment needs, pinned to the versions the course is tested with here.
# asynclab's own dependencies come with its wheel too (student/asynclab.pyproject.toml).
STUDENT_PACKAGES = {
    "jupyterlab": "JupyterLab",
    "nbgrader": "the Validate button",
    "ipykernel": "the notebooks' kernel",
    "ipywidgets": "asynclab's widgets",
    "matplotlib": "timelines and charts",
    "aiohttp": "HTTP exercises and the demo server",
    "aiofiles": "files without blocking (04, 08)",
    "looptime": "virtual time in the tests",
    "nest-asyncio": "script-style code in a notebook (01)",
    "tqdm": "progress bars (asynclab.widgets.progress)",
}
# Text that must never reach a student (the markers nbgrader removes at release).
SECRETS = course.SOLUTION_MARKERS + course.HIDDEN_MARKERS
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # zip entries' date: the same files make the same zip


class KitError(RuntimeError):
    pass


def course_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def build_wheel(out: Path) -> Path:
    """A wheel of asynclab alone, built with pip from a staging folder that holds asynclab/
    and student/asynclab.pyproject.toml."""
    with tempfile.TemporaryDirectory(prefix="asynclab-wheel-") as tmp:
        stage = Path(tmp) / "asynclab-src"
        shutil.copytree(ROOT / "asynclab", stage / "asynclab",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        template = (HERE / "asynclab.pyproject.toml").read_text()
        (stage / "pyproject.toml").write_text(template.replace("@VERSION@", course_version()))
        wheels = Path(tmp) / "wheels"
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--wheel-dir", str(wheels), str(stage)],
            capture_output=True, text=True)
        if done.returncode:
            raise KitError(f"pip wheel failed for asynclab:\n{done.stdout}{done.stderr}")
        built = sorted(wheels.glob("asynclab-*.whl"))
        if len(built) != 1:
            raise KitError(f"pip wheel made {[p.name for p in built]}, not one asynclab wheel")
        out.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(built[0], out / built[0].name))


def requirements(wheel_name: str) -> str:
    lines = [
        "# The asyncio course for students. Install from this folder with",
        "#   python3 -m venv .venv && .venv/bin/pip install -r requirements.txt",
        "# (Windows: py -m venv .venv && .venv\\Scripts\\pip install -r requirements.txt).",
        "# The versions the course was tested with.",
    ]
    for name, why in STUDENT_PACKAGES.items():
        try:
            version = md.version(name)
        except md.PackageNotFoundError:
            raise KitError(f"{name} is not installed here: run `make setup` first") from None
        lines.append(f"{name}=={version}  # {why}")
    lines.append("# The course's helper package, which the notebooks import (in this folder).")
    lines.append(f"./{wheel_name}")
    return "\n".join(lines) + "\n"


def notebook_title(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            match = re.search(r"^#\s+(.+)$", text, re.M)
            if match:
                return match.group(1).strip()
    return path.stem


def released_notebooks() -> list[Path]:
    """The assignment folders of notebooks/ (NN_topic/ with NN_topic.ipynb)."""
    folders = sorted(p for p in RELEASE.iterdir()
                     if p.is_dir() and course.ASSIGNMENT_RE.match(p.name)
                     and (p / f"{p.name}.ipynb").is_file())
    if not folders:
        raise KitError(f"no released notebooks in {RELEASE}: run `make release`")
    return folders


def readme(folders: list[Path]) -> str:
    rows = ["| Notebook | File |", "|---|---|"]
    for folder in folders:
        nb = folder / f"{folder.name}.ipynb"
        rows.append(f"| {notebook_title(nb)} | `notebooks/{folder.name}/{nb.name}` |")
    return (HERE / "README.md").read_text().replace("@NOTEBOOKS@", "\n".join(rows))


def assemble(kit: Path) -> None:
    """Write the kit's files into the empty folder ``kit``."""
    folders = released_notebooks()
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", "feedback")
    for folder in folders:
        shutil.copytree(folder, kit / "notebooks" / folder.name, ignore=ignore)
    wheel = build_wheel(kit)
    (kit / "requirements.txt").write_text(requirements(wheel.name))
    (kit / "README.md").write_text(readme(folders))
    shutil.copy2(HERE / "start.py", kit / "start.py")
    (kit / "start.py").chmod(0o755)
    shutil.copytree(HERE / "jupyter", kit / "jupyter",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    check(kit)


def check(kit: Path) -> None:
    """Refuse a kit that holds solutions, hidden tests or the instructor's code."""
    problems = []
    for path in sorted(kit.rglob("*")):
        rel = path.relative_to(kit)
        if {"solutions", "grader", "grading"} & set(rel.parts):
            problems.append(f"{rel}: instructor's folder")
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as wheel:
                names = wheel.namelist()
                top = {n.split("/")[0] for n in names}
                extra = {t for t in top if t != "asynclab" and not t.endswith(".dist-info")}
                if extra:
                    problems.append(f"{rel}: holds {sorted(extra)}, not asynclab alone")
                texts = [(f"{rel}!{n}", wheel.read(n)) for n in names]
        elif path.is_file():
            texts = [(str(rel), path.read_bytes())]
        else:
            texts = []
        for name, data in texts:
            for marker in SECRETS:
                if marker.encode() in data:
                    problems.append(f"{name}: contains {marker!r}")
    if problems:
        raise KitError("the student kit would leak:\n  " + "\n  ".join(problems))


def write_zip(kit: Path, zip_path: Path) -> None:
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    partial = zip_path.with_name(zip_path.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(kit.rglob("*")):
            if not path.is_file():
                continue
            info = zipfile.ZipInfo(f"{KIT_NAME}/{path.relative_to(kit).as_posix()}", FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if path.stat().st_mode & 0o100 else 0o644) << 16
            zf.writestr(info, path.read_bytes())
    partial.replace(zip_path)


def build(zip_path: Path | None, folder: Path | None) -> None:
    if folder is not None and folder.exists() and any(folder.iterdir()):
        raise KitError(f"{folder} exists and is not empty: remove it first (it may hold a "
                       "student's work)")
    with tempfile.TemporaryDirectory(prefix="student-kit-") as tmp:
        kit = Path(tmp) / KIT_NAME
        kit.mkdir()
        assemble(kit)
        if zip_path is not None:
            write_zip(kit, zip_path)
            print(f"student kit: {zip_path}")
        if folder is not None:
            shutil.copytree(kit, folder, dirs_exist_ok=True)
            print(f"student kit folder: {folder}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zip", type=Path, default=ROOT / "dist" / f"{KIT_NAME}.zip",
                        help=f"the zip to write (default: dist/{KIT_NAME}.zip)")
    parser.add_argument("--no-zip", action="store_true", help="write no zip (with --dir)")
    parser.add_argument("--dir", type=Path, help="also write the kit into this (new) folder")
    args = parser.parse_args(argv)
    try:
        build(None if args.no_zip else args.zip.resolve(),
              args.dir.resolve() if args.dir else None)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
