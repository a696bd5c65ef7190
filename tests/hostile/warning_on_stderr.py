"""A right answer that prints a warning to stderr while the test runs."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "stderr"
ATTACK = "A right `brew_coffee` that prints a warning to stderr each time it runs."
OUTCOME = ("The test reached its last line untouched, so it keeps its points (plain nbgrader "
           "gives 0 for any stderr); the warning is reported.")
EXPECT = Expect("graded", scores="full",
                flags=["test 'test_brew_coffee' passed and kept its points although the code "
                       "wrote to stderr"])


def submit(root: Path, student: str) -> None:
    answer = "import sys\n\n" + solution(root, "brew_coffee").replace(
        "    await asyncio.sleep(seconds)",
        "    print('warning: the coffee is hot', file=sys.stderr)\n"
        "    await asyncio.sleep(seconds)", 1)
    write(root, student, answered(root, brew_coffee=answer))
