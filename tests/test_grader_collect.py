"""collect: submissions come in from a folder tree or an LMS zip; whatever is not collected
is reported by name, and a graded submission is never replaced silently.

No kernel runs here: these tests only need the released notebooks' names."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat
import pytest
from grader_fixtures import TINY, tiny_notebook

from grader import course, records
from grader.__main__ import main
from grader.collect import collect

ROOT = course.ROOT


@pytest.fixture
def root(tmp_path) -> Path:
    """A course copy with the real release of 01_coroutines and a tiny second assignment
    (only its released notebook matters to collect)."""
    root = course.copy_course(tmp_path / "course")
    for folder in (course.SOURCE, course.RELEASE):
        (root / folder / TINY).mkdir(parents=True, exist_ok=True)
        nbformat.write(tiny_notebook(), root / folder / TINY / f"{TINY}.ipynb")
    return root


def notebook_bytes(text: str = "") -> bytes:
    nb = tiny_notebook()
    nb.cells[0].source += text
    return nbformat.writes(nb).encode()


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def submitted(root: Path, student: str, assignment: str = TINY) -> Path:
    return root / "grading" / "submitted" / student / assignment / f"{assignment}.ipynb"


def test_lms_zip_collects_and_names_every_file_left_out(root, tmp_path, capsys):
    inner = tmp_path / "eve.zip"
    make_zip(inner, {f"eve_{TINY}.ipynb": notebook_bytes("eve")})
    archive = make_zip(tmp_path / "download.zip", {
        f"ada_{TINY}.ipynb": notebook_bytes("ada"),
        f"bob_{TINY}.ipynb": notebook_bytes("bob"),
        f"dan_{TINY} (1).ipynb": notebook_bytes("dan"),  # the LMS renamed a re-upload
        "notes.ipynb": notebook_bytes(),  # no student in the name
        "README.txt": b"read me",
        f"__MACOSX/._ada_{TINY}.ipynb": b"junk",
        "eve.zip": inner.read_bytes(),  # archives inside the download are unpacked too
    })

    code = main(["collect", TINY, str(archive), "--course", str(root)])
    out = capsys.readouterr().out

    assert code == 1, out  # some files were not collected
    for student in ("ada", "bob", "eve"):
        assert submitted(root, student).is_file(), out
        assert student in nbformat.read(submitted(root, student), as_version=4).cells[0].source
    assert not (root / "grading" / "submitted" / "dan").exists()
    assert f"dan_{TINY} (1).ipynb" in out and f"if it is {TINY}.ipynb, rename it" in out
    assert "notes.ipynb: its name does not say whose it is" in out
    assert "README.txt (not a notebook)" in out
    assert "__MACOSX" not in out


def test_folder_in_nbgrader_layout_keeps_timestamps(root, tmp_path, capsys):
    inbox = tmp_path / "inbox"
    for student in ("ada", "bob"):
        folder = inbox / student / "01_coroutines"
        folder.mkdir(parents=True)
        (folder / "01_coroutines.ipynb").write_bytes(
            course.release_notebook("01_coroutines", root).read_bytes())
        (folder / "timestamp.txt").write_text("2026-03-01 10:00:00.000000 UTC")
    (inbox / "bob" / "01_coroutines" / "scratch.ipynb").write_bytes(notebook_bytes())
    cy = inbox / "cy" / "01_coroutines"  # a time nobody can read: collected, said once
    cy.mkdir(parents=True)
    (cy / "01_coroutines.ipynb").write_bytes(notebook_bytes())
    (cy / "extra.txt").write_text("notes")
    (cy / "timestamp.txt").write_text("yesterday evening")

    code = main(["collect", "01_coroutines", str(inbox), "--course", str(root)])
    out = capsys.readouterr().out
    assert submitted(root, "cy", "01_coroutines").is_file()
    assert out.count("unreadable submission time 'yesterday evening'") == 1, out
    assert "no late penalty can apply" in out

    assert code == 1, out
    assert submitted(root, "ada", "01_coroutines").is_file()
    assert (submitted(root, "ada", "01_coroutines").parent / "timestamp.txt").read_text().startswith(
        "2026-03-01 10:00:00")
    assert "bob/01_coroutines/scratch.ipynb: 'scratch.ipynb' is not a notebook of 01_coroutines" in out
    assert not (submitted(root, "bob", "01_coroutines").parent / "scratch.ipynb").exists()


def test_a_graded_submission_is_never_replaced_silently(root, tmp_path):
    first = make_zip(tmp_path / "first.zip", {f"ada_{TINY}.ipynb": notebook_bytes("v1")})
    second = make_zip(tmp_path / "second.zip", {f"ada_{TINY}.ipynb": notebook_bytes("v2")})
    assert collect(root, TINY, first).collected == [f"ada: {TINY}.ipynb"]

    # a new upload before grading simply updates the submission
    report = collect(root, TINY, second)
    assert report.updated and report.exit_code == 0
    assert "v2" in submitted(root, "ada").read_text()

    # once graded, it is refused without --force ...
    records.save(root, records.Result(assignment=TINY, student="ada", status=records.GRADED))
    report = collect(root, TINY, first)
    assert report.refused and report.exit_code == 1
    assert "already graded" in "\n".join(report.lines())
    assert "v2" in submitted(root, "ada").read_text()

    # ... and replaced with --force, the graded copy kept aside
    report = collect(root, TINY, first, force=True)
    assert report.regraded and report.backup is not None
    assert "v1" in submitted(root, "ada").read_text()
    assert "v2" in (report.backup / "ada" / TINY / f"{TINY}.ipynb").read_text()

    # the same file again changes nothing
    assert collect(root, TINY, first).unchanged == [f"ada: {TINY}.ipynb"]


def test_duplicates_keep_the_newest_or_are_reported(root, tmp_path):
    pattern = r".*/(?P<student_id>[a-z]+)_(?P<timestamp>\d{8}T\d{6})_(?P<file_id>.+)$"
    archive = make_zip(tmp_path / "stamped.zip", {
        f"ada_20260301T100000_{TINY}.ipynb": notebook_bytes("old"),
        f"ada_20260302T100000_{TINY}.ipynb": notebook_bytes("new"),
    })
    report = collect(root, TINY, archive, pattern=pattern)
    assert report.exit_code == 0, report.lines()
    assert "new" in submitted(root, "ada").read_text()
    assert (submitted(root, "ada").parent / "timestamp.txt").read_text().startswith("2026-03-02")

    archive = make_zip(tmp_path / "twice.zip", {
        f"bob_{TINY}.ipynb": notebook_bytes("a"),
        f"copy/bob_{TINY}.ipynb": notebook_bytes("b"),
    })
    report = collect(root, TINY, archive)
    assert report.exit_code == 1
    assert any("none says when it was submitted" in line for line in report.not_collected)
    assert not submitted(root, "bob").exists()


def test_collect_explains_usage_errors(root, tmp_path, capsys):
    assert main(["collect", "99_nothing", str(tmp_path), "--course", str(root)]) == 2
    assert "no assignment '99_nothing'" in capsys.readouterr().err
    assert main(["collect", TINY, str(tmp_path / "missing.zip"), "--course", str(root)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["autograde", "--course", str(tmp_path)]) == 2
    assert "not a course folder" in capsys.readouterr().err
