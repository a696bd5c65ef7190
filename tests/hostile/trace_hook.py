"""An answer cell sets a trace function for new threads that blinds run_virtual's checks."""

from pathlib import Path

from _build import Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("`download_all` is right but for a coroutine it never awaits; its cell calls "
          "`threading.settrace()` with a function that, in the thread `run_virtual` starts, "
          "turns the \"never awaited\" warning into a harmless one.")
OUTCOME = ("Trace and profile functions (`sys` and `threading`) are reset before each test: "
           "`run_virtual` sees the coroutine never awaited and the test scores 0; reported.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["a trace or profile function (threading.settrace/setprofile)",
                       "may set a trace or profile function"],
                messages={"test_download_all": "never awaited"})

ANSWER = """import threading


def _quiet(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "showwarning":
        frame.f_locals["category"] = UserWarning
    return None


threading.settrace(_quiet)


async def download_all(download, delays):
    download(0)  # created, never awaited
    return list(await asyncio.gather(*(download(delay) for delay in delays)))"""


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=ANSWER))
