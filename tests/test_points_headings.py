"""Every "(N points)" heading of an exercise matches the points nbgrader gives its cells
(the cells' nbgrader metadata, which is what grading counts)."""

from __future__ import annotations

import nbformat
import pytest

from grader import course


@pytest.mark.parametrize("assignment", course.assignments())
def test_every_points_heading_matches_its_cells(assignment):
    nb = nbformat.read(course.source_notebook(assignment), as_version=4)
    assert course.POINTS_HEADING.search("\n".join(c.source for c in nb.cells
                                                  if c.cell_type == "markdown"))
    assert course.points_mismatches(nb) == []


def test_a_changed_heading_or_changed_points_is_caught():
    nb = nbformat.read(course.source_notebook("01_coroutines"), as_version=4)
    heading = next(c for c in nb.cells if c.cell_type == "markdown"
                   and course.POINTS_HEADING.search(c.source))
    heading.source = course.POINTS_HEADING.sub(
        lambda m: m.group(0).replace(f"({m.group(1)} points)", "(9 points)"), heading.source,
        count=1)
    [problem] = course.points_mismatches(nb)
    assert "(9 points)" in problem and "its cells have 3 points" in problem

    nb = nbformat.read(course.source_notebook("01_coroutines"), as_version=4)
    test_cell = next(c for c in nb.cells if course.nbgrader_meta(c).get("grade")
                     and not course.nbgrader_meta(c).get("solution"))
    test_cell.metadata["nbgrader"]["points"] += 1
    assert len(course.points_mismatches(nb)) == 1
