"""A right answer cell that also installs an input transformer emptying every later cell."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "Runtime tampering"
ATTACK = ("After a right `brew_coffee`, its cell installs an input transformer that turns "
          "every later cell, the course's and the tests, into `pass`.")
OUTCOME = ("The transformer is removed before each course and test cell, so the notebook runs "
           "as written and the right answers keep their points; the code is reported.")
EXPECT = Expect("graded", scores="full",
                flags=["the grader undid changes the answers made to: IPython cleanup_transforms",
                       "answer cell 'brew_coffee' has code that may reach into IPython"])


def submit(root: Path, student: str) -> None:
    answer = (solution(root, "brew_coffee") + "\n\n\nget_ipython().input_transformers_cleanup"
              ".append(lambda lines: ['pass\\n'])")
    write(root, student, answered(root, brew_coffee=answer))
