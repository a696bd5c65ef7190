"""An answer cell makes IPython run each statement of a cell alone and forget its errors."""

from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("With wrong answers (a blocking `brew_coffee`, a sequential `download_all`), an answer "
          "cell gives `InteractiveShell.run_code` the code of a function that swallows every "
          "error, and has IPython run each statement of a cell on its own, so a test's failed "
          "checks are skipped and its last line still runs.")
OUTCOME = ("IPython's classes are snapshotted down to their functions' code, and the shell's "
           "execution settings too: both are put back before each test, the wrong answers score "
           "0; reported.")
EXPECT = Expect("graded", scores={"test_brew_coffee": 0.0, "test_download_all": 0.0},
                flags=["InteractiveShell.run_code.__code__", "IPython ast_node_interactivity",
                       "reach into IPython"])

ANSWER = """import time

from IPython.core.interactiveshell import InteractiveShell


async def _forgiving(self, code_obj, result=None, *, async_=False):
    try:
        if async_:
            await eval(code_obj, self.user_global_ns, self.user_ns)
        else:
            exec(code_obj, self.user_global_ns, self.user_ns)
    except BaseException:
        pass
    return False


InteractiveShell.run_code.__code__ = _forgiving.__code__
get_ipython().ast_node_interactivity = "all"


async def brew_coffee(order, seconds):
    time.sleep(seconds)
    return f"{order} is ready\""""


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, brew_coffee=ANSWER, download_all=SEQUENTIAL))
