"""download_all overwrites the gradebook, a classmate's notebook and the course's solution."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "Resources"
ATTACK = ("`download_all` first overwrites the gradebook, another student's submitted notebook "
          "and the instructor's solution notebook (absolute paths), then answers right.")
OUTCOME = ("The kernel's sandbox holds neither file (it may write only to a private copy of "
           "its folder): the write fails, so that test scores 0; every file is intact.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                messages={"test_download_all": "Error: [Errno"})

VICTIM = "writes_outside_classmate"


def targets(root: Path) -> list[Path]:
    return [root / "grading" / "gradebook.db",
            root / "solutions" / "01_coroutines" / "01_coroutines.ipynb"]


def submit(root: Path, student: str) -> None:
    paths = ", ".join(repr(str(p)) for p in targets(root))
    answer = solution(root, "download_all").replace(
        "async def download_all(download, delays):\n",
        "async def download_all(download, delays):\n"
        f"    for path in [{paths}]:\n"
        "        open(path, 'w').write('overwritten')\n", 1)
    write(root, student, answered(root, download_all=answer))


def after(root: Path, student: str) -> None:
    for path in targets(root):
        assert b"overwritten" not in path.read_bytes()[:100], f"{path} was overwritten"
