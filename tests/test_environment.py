"""Both install routes (pip from pyproject.toml, conda from environment.yml) bring every
package the course imports."""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import re
import sys
import tomllib

import nbformat

from grader import course

ROOT = course.ROOT


def declared_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {re.split(r"[\s<>=!\[;~]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def parse(text: str) -> ast.AST:
    try:
        return ast.parse(text)
    except SyntaxError:  # top-level await in a notebook cell
        return ast.parse(text, flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def imported_modules() -> dict[str, str]:
    """top-level module -> a file that imports it, over the course's code and notebooks."""
    sources: list[tuple[str, str]] = []
    for folder in ("asynclab", "grader", "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            sources.append((str(path.relative_to(ROOT)), path.read_text()))
    for path in sorted((ROOT / course.SOURCE).glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and not cell.source.lstrip().startswith(("%", "!")):
                sources.append((str(path.relative_to(ROOT)), cell.source))
    found: dict[str, str] = {}
    for name, text in sources:
        # A module the code writes itself (a notebook that creates `cpu_work.py` to show
        # processes) is not a package to install.
        written = set(re.findall(r"([A-Za-z_]\w*)\.py\b", text))
        for node in ast.walk(parse(text)):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                if mod.split(".")[0] not in written:
                    found.setdefault(mod.split(".")[0], name)
    return found


def test_every_imported_package_is_declared_in_pyproject():
    local = {"asynclab", "grader", "conftest"} | {p.stem for p in (ROOT / "tests").rglob("*.py")}
    local |= {p.parent.name for p in (ROOT / "tests").rglob("__init__.py")}  # test packages
    dists = md.packages_distributions()
    declared = declared_requirements()
    problems = []
    for mod, where in sorted(imported_modules().items()):
        if mod in sys.stdlib_module_names or mod in local:
            continue
        if importlib.util.find_spec(mod) is None:
            problems.append(f"{mod} (imported in {where}) is not installed")
            continue
        owners = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
        if not owners & declared:
            problems.append(f"{mod} (imported in {where}) comes from {owners or 'nowhere'}, "
                            "which pyproject.toml does not list")
    assert not problems, "\n".join(problems)


def test_environment_yml_installs_the_project_through_pip():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^name:\s*\S+", text, re.M), "environment.yml needs a named environment"
    assert "conda-forge" in text, "environment.yml must use conda-forge"
    assert re.search(r"^\s*-\s*python\s*[=<>]", text, re.M), "environment.yml must pin python"
    assert re.search(r"^\s*-\s*pip\s*(#.*)?$", text, re.M), "environment.yml must install pip"
    assert re.search(r"^\s*-\s*(-e\s+)?\.(\[[^\]]*\])?\s*(#.*)?$", text, re.M), (
        "environment.yml's pip section must install the project itself (-e .[dev])")
    conda_part = text.split("pip:")[0]
    extra = [name for name in re.findall(r"^\s*-\s*([A-Za-z][\w.-]*)", conda_part, re.M)
             if name not in ("python", "pip", "conda-forge", "nodefaults")]
    assert not extra, f"list Python packages in pyproject.toml, not environment.yml: {extra}"


def test_readme_course_map_lists_every_notebook_with_its_minutes_and_points():
    readme = (ROOT / "README.md").read_text()
    problems = []
    for aid in course.assignments():
        nb = nbformat.read(course.source_notebook(aid), as_version=4)
        title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
        minutes = re.search(r"\*\*Time\*\*:\s*~?(\d+)", nb.cells[0].source)
        points = sum(p for tests in course.exercises(nb).values() for _, p in tests)
        row = next((line for line in readme.splitlines()
                    if f"(notebooks/{aid}/{aid}.ipynb)" in line), None)
        if row is None:
            problems.append(f"README's course map has no row linking notebooks/{aid}/{aid}.ipynb")
            continue
        cols = [c.strip() for c in row.strip("|").split("|")]
        want = [f"[{title}]", minutes.group(1) if minutes else "?", f"{points:g}"]
        if not (cols[0].startswith(want[0]) and cols[-2:] == want[1:]):
            problems.append(f"README row for {aid} should show {want}, shows {cols}")
    assert not problems, "\n".join(problems)
