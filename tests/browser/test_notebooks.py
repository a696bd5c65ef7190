"""Every student notebook, in JupyterLab: the cells above the first exercise run cleanly.

For each notebook in ``notebooks/`` (found when the tests start), the page runs every cell
above the first exercise (Run > Run All Above Selected Cell), then checks what a student
sees: every code cell ran, no cell shows an error or anything on stderr, each cell that
uses top-level ``await`` shows its result, literal ``print("...")`` lines are on the page
(``Setup complete.``), each cell that ends by showing a timeline or a chart
(``compare(...)``, ``tl.plot(...)``, a ``Timeline``, ``plt.show()``) shows a rendered
picture, every picture is a decoded image, and every widget renders.
"""

from __future__ import annotations

import re
import time

import pytest

from .conftest import RUN_TIMEOUT, shorten

pytestmark = pytest.mark.xdist_group("browser")

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def problems_in(cells: list[dict], facts) -> list[tuple[int, str]]:
    """(cell index, what is wrong) for everything a student should not see."""
    problems = []
    for cell in cells:
        if not cell["code"]:
            continue
        i, n = cell["index"], cell["index"] + 1
        if not re.fullmatch(r"\[\d+\]:", cell["prompt"]):
            problems.append((i, f"cell {n} did not run (its prompt shows {cell['prompt']!r})"))
        for text in cell["stderr"]:
            problems.append((i, f"cell {n} shows an error or stderr output:\n{shorten(text)}"))
        broken = [img for img in cell["images"] if not img["rendered"]]
        if broken:
            problems.append((i, f"cell {n} has {len(broken)} picture(s) that did not render"))
        for out in cell["outputs"]:
            if out["mime"] == WIDGET_MIME and not out["widget"]:
                problems.append((i, f"cell {n}: a widget did not render: {out['text'][:200]!r}"))
    by_index = {cell["index"]: cell for cell in cells}
    for fact in facts:
        cell = by_index[fact.index]
        if not re.fullmatch(r"\[\d+\]:", cell["prompt"]):
            continue  # already reported
        n = fact.index + 1
        shown = "\n".join(out["text"] for out in cell["outputs"])
        if fact.picture and not any(img["rendered"] for img in cell["images"]):
            problems.append((fact.index, f"cell {n} ({fact.first_line!r}) should show a "
                                         "timeline or chart, but no picture is rendered"))
        if fact.top_level_await and not cell["outputs"]:
            problems.append((fact.index, f"cell {n} ({fact.first_line!r}) uses top-level "
                                         "await but shows no result"))
        for text in fact.printed:
            if text not in shown:
                problems.append((fact.index, f"cell {n} should print {text!r}, the page "
                                             f"shows:\n{shorten(shown or '(nothing)')}"))
    return sorted(problems, key=lambda p: p[0])


def test_cells_above_first_exercise_run_cleanly(lab, notebook_runs, assignment):
    run = notebook_runs.get(assignment)
    assert run is not None, f"{assignment} was not in the course copy the server runs on"
    if run.error is not None:
        raise run.error
    lab.activate(run.panel_id)
    remaining = max(10.0, RUN_TIMEOUT - (time.monotonic() - run.started))
    cells = lab.wait_cells_done(run.panel_id, run.stop, timeout=remaining)
    problems = problems_in(cells, run.facts)
    if problems:
        lab.scroll_to_cell(run.panel_id, problems[0][0])
        listing = "\n".join(f"- {text}" for _, text in problems)
        pytest.fail(f"{run.path}, above the first exercise (cell {run.stop + 1}):\n{listing}",
                    pytrace=False)
    pictures = [c["index"] for c in cells if any(img["rendered"] for img in c["images"])]
    code = [c["index"] for c in cells if c["code"]]
    # The screenshot shows the first picture, or else the last cell that ran.
    lab.scroll_to_cell(run.panel_id, pictures[0] if pictures else code[-1])
