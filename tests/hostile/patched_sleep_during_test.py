"""download_all replaces asyncio.sleep while the test runs it."""

from pathlib import Path

from _build import Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("`download_all` waits one after another but, when called, first replaces "
          "`asyncio.sleep` with a coroutine that returns at once.")
OUTCOME = ("The guard sees `asyncio.sleep` changed while the test ran: the test scores 0 "
           "(fail-closed) and names what changed.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["test 'test_download_all' scores 0: while the test ran, the answer "
                       "changed what the test relies on: asyncio.sleep"])

ANSWER = """async def download_all(download, delays):
    async def instant(delay, result=None):
        return result

    asyncio.sleep = instant
    results = []
    for delay in delays:
        results.append(await download(delay))
    return results"""


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=ANSWER))
