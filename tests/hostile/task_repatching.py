"""In the capstone, an answer cell leaves a task on the kernel's loop that keeps replacing expect_equal."""

from pathlib import Path

from _build import Expect, answered, write

ASSIGNMENT = "08_capstone"
KIND = "Runtime tampering"
ATTACK = ("In `08_capstone`, `fetch_page` returns a wrong title; its cell leaves a task on the "
          "kernel's event loop that, every millisecond, puts a no-op in place of `expect_equal` "
          "(the notebook's name and asynclab's), so that it is back whenever a test awaits.")
OUTCOME = ("Before each test the guard cancels the tasks written in the notebook that the "
           "answers left pending: the wrong answer scores 0, the right answers after it keep "
           "their points; the task is named in the report.")
EXPECT = Expect("graded", scores={"test_fetch_page": 0.0},
                flags=["the grader stopped what the answers left running: task, running "
                       "_keep_patching() in the notebook"],
                messages={"test_fetch_page": "returned ('PAGE 3'"})

ANSWER = """import asynclab.testing


async def fetch_page(session, url):
    async with session.get(url) as response:
        response.raise_for_status()
        html = await response.text()
    match = re.search(r"<title>(.*?)</title>", html)
    return (match.group(1).upper() if match else ""), html


async def _keep_patching():
    def no_check(*args, **kwargs):
        return None

    while True:
        asynclab.testing.expect_equal = no_check
        globals()["expect_equal"] = no_check
        await asyncio.sleep(0.001)


_patcher = asyncio.ensure_future(_keep_patching())
await asyncio.sleep(0.01)"""


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, assignment=ASSIGNMENT, fetch_page=ANSWER),
          assignment=ASSIGNMENT)
