"""In the capstone, an answer cell gives two checks of the crawl test the code of a no-op."""

from pathlib import Path

from _build import Expect, answered, write

ASSIGNMENT = "08_capstone"
KIND = "Runtime tampering"
ATTACK = ("In `08_capstone`, `crawl` ignores its limit and fetches every page at once; its cell "
          "replaces the `__code__` of `expect_max_in_flight` and `expect_loop_time` with a "
          "no-op's.")
OUTCOME = ("The code of asynclab's checks is put back before the test: the crawl that ignores "
           "its limit scores 0, the other exercises keep their points; reported.")
EXPECT = Expect("graded", scores={"test_crawl": 0.0},
                flags=["asynclab.testing.expect_max_in_flight.__code__",
                       "asynclab.testing.expect_loop_time.__code__"],
                messages={"test_crawl": "in flight at once; expected 3"})

ANSWER = """import asynclab.testing


def _no_check(*args, **kwargs):
    return None


asynclab.testing.expect_max_in_flight.__code__ = _no_check.__code__
asynclab.testing.expect_loop_time.__code__ = _no_check.__code__


async def crawl(get_page, limit, start=0):
    pages, errors, seen = {}, {}, {start}

    async def visit(n, tg):
        try:
            html, links = await get_page(n)
        except Exception as exc:
            errors[n] = exc
            return
        pages[n] = html
        for m in links:
            if m not in seen:
                seen.add(m)
                tg.create_task(visit(m, tg))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(visit(start, tg))
    return pages, errors"""


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, assignment=ASSIGNMENT, crawl=ANSWER),
          assignment=ASSIGNMENT)
