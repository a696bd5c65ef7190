"""grader.inputs without kernels: what is wrong with a submitted file, in one line, read
at most once."""

from __future__ import annotations

import builtins
import json
import time

import nbformat
import pytest
from grader_fixtures import tiny_notebook
from traitlets.config import Config

from grader import inputs

MB = inputs.MB


@pytest.fixture
def nb_text() -> str:
    return nbformat.writes(tiny_notebook())


def check(tmp_path, content) -> str | None:
    path = tmp_path / "nb.ipynb"
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return inputs.problem(path)


def test_a_notebook_passes_in_nbformat_4_and_3(tmp_path, nb_text):
    assert check(tmp_path, nb_text) is None
    assert check(tmp_path, nbformat.writes(nbformat.convert(tiny_notebook(), 3), version=3)) is None


@pytest.mark.parametrize("content, why", [
    (b"", "it is empty (0 bytes)"),
    ("  \n", "it holds only white space"),
    ('{"cells": [1, 2', "it is not valid JSON: it ends too early, after line 1 (cut short?)"),
    ('{"cells": [\n"ab', "it is not valid JSON: it ends too early, after line 2 (cut short?)"),
    ('{"cells": [1 2]}', "it is not valid JSON: Expecting ',' delimiter (line 1, column 14)"),
    ("\ufeff{}", "it is not valid JSON: Unexpected UTF-8 BOM"),
    (b"PK\x03\x04\x14\x00rest", "it is a ZIP archive, not a notebook"),
    (b"\x80\x81\xfe\xff garbage", "it is binary data, not a notebook (a notebook is JSON text)"),
    ("[]", "it is valid JSON but not a notebook (a JSON array, not an object)"),
    ('"text"', "it is valid JSON but not a notebook (a JSON string, not an object)"),
    ("{}", "it is valid JSON but not a notebook (it has no cells)"),
    ('{"cells": 5}', 'it is valid JSON but not a notebook (it has no "nbformat" version)'),
    ('{"cells": [], "nbformat": "4"}', "it says nbformat 4, a version nbformat"),
    ('{"cells": [], "nbformat": true}', "it says nbformat True, a version nbformat"),
    ('{"cells": 5, "nbformat": 4}', 'it is not a valid notebook ("cells" is a JSON number)'),
    ('{"cells": [], "nbformat": 4}', 'it is not a valid notebook (its "metadata" is missing'),
    ('{"cells": [7], "metadata": {}, "nbformat": 4}',
     "it is not a valid notebook (cell 0 is a JSON number, not an object)"),
    ('{"cells": [{"cell_type": "python", "source": "", "metadata": {}}], "metadata": {}, '
     '"nbformat": 4}', "it is not a valid notebook (cell 0 has cell_type 'python')"),
    ('{"cells": [{"cell_type": "code", "source": 3, "metadata": {}}], "metadata": {}, '
     '"nbformat": 4}', "it is not a valid notebook (cell 0 has no source text)"),
    ('{"cells": [{"cell_type": "code", "source": ["a", "b"]}], "metadata": {}, '
     '"nbformat": 4}', 'it is not a valid notebook (cell 0 has no "metadata" object)'),
])
def test_what_is_wrong_is_said_in_one_line(tmp_path, content, why):
    found = check(tmp_path, content)
    assert found is not None and found.startswith(why), found
    assert "\n" not in found


def test_another_nbformat_version_is_named(tmp_path, nb_text):
    data = json.loads(nb_text)
    data["nbformat"] = 5
    assert check(tmp_path, json.dumps(data)).startswith(
        f"it says nbformat 5, a version nbformat {nbformat.__version__} cannot read "
        "(Jupyter saves notebooks as nbformat 4)")
    data["nbformat"] = 3  # a v4 body under a v3 header: worksheets missing
    assert check(tmp_path, json.dumps(data)).startswith("it is nbformat 3 and cannot be converted")


def test_a_file_over_the_limit_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "nb.ipynb"
    with open(path, "wb") as fh:
        fh.truncate(60 * MB)  # sparse: 60 MB at no cost

    def no_open(*args, **kwargs):
        raise AssertionError("a file over the limit must not be opened")

    monkeypatch.setattr(builtins, "open", no_open)
    start = time.time()
    why = inputs.problem(path, 20 * MB)
    assert time.time() - start < 0.1
    assert why == ("it is 60 MB, more than the limit of 20 MB for a notebook "
                   "(c.SubmittedNotebooks.max_mb in nbgrader_config.py)")


def test_the_limit_is_nbgrader_configuration(tmp_path, nb_text):
    assert inputs.max_bytes() == 20 * MB
    assert inputs.max_bytes(Config({"SubmittedNotebooks": {"max_mb": 0.5}})) == MB // 2
    path = tmp_path / "nb.ipynb"
    path.write_text(nb_text)
    size = len(nb_text.encode())
    assert inputs.problem(path, limit=size) is None
    assert "more than the limit" in inputs.problem(path, limit=size - 1)


def test_a_folder_or_a_missing_file_is_not_a_notebook(tmp_path):
    assert inputs.problem(tmp_path) == "it is not a regular file"
    assert inputs.problem(tmp_path / "gone.ipynb").startswith("it cannot be read (")


def test_an_empty_folder_says_what_it_holds(tmp_path):
    assert inputs.no_notebook(tmp_path, "sub", ["a.ipynb"]) == (
        "no notebook in sub/ (found nothing; expected a.ipynb)")
    for i in range(7):
        (tmp_path / f"f{i}.txt").write_text("")
    (tmp_path / ".DS_Store").write_text("")
    assert inputs.no_notebook(tmp_path, "sub", ["a.ipynb"]) == (
        "no notebook in sub/ (found f0.txt, f1.txt, f2.txt, f3.txt, f4.txt and 2 more; "
        "expected a.ipynb)")
