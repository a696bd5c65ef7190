"""nbgrader in the page: the Validate button, the formgrader and the Assignments panel.

Validate is checked on the first notebook of the course (it proves the lab extension, the
server extension and the course's nbgrader config work together; whether every notebook
grades correctly is the release gate's job, tests/test_release.py). The solved copy is the
release with the instructor's answers filled in (``grader.course.fill_answers``).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from grader import course

from .conftest import SOLVED_DIR, VALIDATE_TIMEOUT

pytestmark = pytest.mark.xdist_group("browser")


DIALOG_JS = """d => {
    const msg = d.querySelector('#validation-message') ?? d.querySelector('.jp-Dialog-body');
    const blocks = [];
    for (const el of msg?.children ?? []) {
        const text = el.textContent.trim();
        if (el.classList.contains('jp-RenderedText')) {
            blocks.at(-1)?.parts.push(el.innerText.trim());  // keeps the line breaks
        } else if (text) {
            blocks.push({heading: text, parts: []});
        }
    }
    return {header: d.querySelector('.jp-Dialog-header')?.textContent.trim() ?? '',
            classes: [...(msg?.classList ?? [])], text: msg?.textContent.trim() ?? '', blocks};
}"""


def validate(lab, path: str) -> dict:
    """Open ``path``, press Validate in its toolbar, wait for the answer's dialog and return
    what it says (the dialog stays open for the screenshot)."""
    nb = nbformat.read(lab.server.root / path, as_version=4)
    panel_id = lab.open(path, cells=len(nb.cells))
    lab.panel(panel_id).locator(".jp-Toolbar-item .validate-button").click()
    dialog = lab.page.locator(".jp-Dialog")
    dialog.wait_for(timeout=VALIDATE_TIMEOUT * 1000)
    return dialog.evaluate(DIALOG_JS)


def test_validate_succeeds_on_solved_copy(lab):
    aid = lab.server.assignments[0]
    result = validate(lab, f"{SOLVED_DIR}/{aid}/{aid}.ipynb")
    assert result["header"] == "Validation Results", result
    assert "validation-success" in result["classes"], (
        f"Validate on the solved {aid} did not report success:\n{result['text'][:3000]}")
    assert "Success! Your notebook passes all the tests." in result["text"]


def test_validate_lists_failing_checks_on_untouched_release(lab):
    aid = lab.server.assignments[0]
    release = course.release_notebook(aid, lab.server.root)
    result = validate(lab, str(release.relative_to(lab.server.root)))
    assert result["header"] == "Validation Results", result
    assert "validation-failed" in result["classes"], (
        f"Validate on the untouched {aid} did not list failures:\n{result['text'][:3000]}")
    failed = [b for b in result["blocks"] if b["heading"] == "The following cell failed:"]
    listed = {b["parts"][0].strip().splitlines()[0] for b in failed if b["parts"]}
    # The visible tests: every one fails while the answers are stubs (the release gate
    # checks that the untouched notebook scores 0), so the dialog must list each of them.
    nb = nbformat.read(release, as_version=4)
    tests = [c.source.strip().splitlines()[0] for c in nb.cells
             if course.nbgrader_meta(c).get("grade") and c.cell_type == "code"]
    assert tests, f"{aid} has no test cells"
    missing = [t for t in tests if t not in listed]
    assert not missing, f"the Validate dialog does not list these failing tests: {missing}"
    for block in failed:  # each with the traceback the student sees
        assert len(block["parts"]) == 2 and re.search(r"Error|Traceback", block["parts"][1]), block


def test_formgrader_lists_the_assignments(lab):
    lab.server.wait_released()
    lab.menu("Nbgrader", "Formgrader")
    frame = lab.page.frame_locator(".jp-MainAreaWidget:not(.lm-mod-hidden) iframe")
    rows = frame.locator("#main-table tbody tr, table tbody tr").filter(
        has=frame.locator("td.name"))
    for aid in lab.server.assignments:
        row = rows.filter(has=frame.locator("td.name", has_text=re.compile(f"^{aid}$")))
        row.first.wait_for()
        status = row.first.locator("td.status").text_content().strip()
        assert status == "released", f"formgrader shows {aid} as {status!r}, not released"
    for warning in ("#warning-exchange", "#warning-course-id"):
        assert not frame.locator(warning).is_visible(), frame.locator(warning).text_content()


def test_assignment_list_shows_the_released_assignments(lab):
    lab.server.wait_released()
    lab.menu("Nbgrader", "Assignment List")
    panel = lab.page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden)")
    released = panel.locator("#released_assignments_list")
    items = released.locator(".list_item")
    items.first.wait_for()
    names = [t.strip() for t in items.locator(".item_name").all_text_contents()]
    assert sorted(names) == sorted(lab.server.assignments), names
    courses = {t.strip() for t in items.locator(".item_course").all_text_contents()}
    assert courses == {"asyncio-course"}, courses
    assert items.locator("button", has_text="Fetch").count() == len(names)
    assert not panel.locator("#released_assignments_list_error").is_visible()
