"""Tests for asynclab.widgets: the ConcurrencyExplorer panel and progress()."""

from __future__ import annotations

import os

os.environ["MPLBACKEND"] = "Agg"  # before pyplot is imported anywhere in this process

import asyncio  # noqa: E402
import base64  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import warnings  # noqa: E402

import ipywidgets as w  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from asynclab.server import DemoServer  # noqa: E402
from asynclab.testing import run_virtual  # noqa: E402
from asynclab.widgets import ConcurrencyExplorer, ExplorerResult, progress  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def check_finished_run(explorer: ConcurrencyExplorer, result: ExplorerResult, n: int, limit: int):
    assert result.done == n
    assert result.failed == 0
    assert result.errors == []
    assert explorer.progress_bar.max == n
    assert explorer.progress_bar.value == n
    assert explorer.progress_bar.bar_style == "success"
    assert explorer.button.disabled is False
    assert re.fullmatch(
        rf"{n}/{n} done in \d+\.\d\d s, max in flight {min(n, limit)}", explorer.status.value
    ), explorer.status.value
    assert result.max_in_flight == min(n, limit)
    assert sorted(s.label for s in result.timeline.spans) == sorted(
        f"GET {i}" for i in range(1, n + 1)
    )
    (shown,) = explorer.output.outputs
    assert base64.b64decode(shown["data"]["image/png"]).startswith(PNG)
    assert shown["data"]["text/plain"] == result.timeline.text()
    assert plt.get_fignums() == []


def test_run_against_the_demo_server():
    with DemoServer() as server:
        explorer = ConcurrencyExplorer(server=server, requests=12, limit=4, delay=0.1)
        server.reset_stats()
        result = explorer.run()
        stats = server.stats()
    check_finished_run(explorer, result, 12, 4)
    assert (result.requests, result.limit, result.delay) == (12, 4, 0.1)
    assert stats["per_route"] == {"delay": 12}
    assert 1 <= stats["max_in_flight"] <= 4  # the server never saw more than the limit
    assert result.ideal == pytest.approx(0.3)
    assert result.status == explorer.status.value


def test_run_arguments_move_the_sliders():
    with DemoServer() as server:
        explorer = ConcurrencyExplorer(server=server)
        result = explorer.run(requests=3, limit=10, delay=0)
        assert server.stats()["max_in_flight"] <= 3
        # values beyond the sliders' range stretch the slider instead of being cut off
        big = explorer.run(requests=150, limit=60, delay=0)
    assert (explorer.requests_slider.value, explorer.limit_slider.value) == (150, 60)
    assert explorer.delay_slider.value == 0
    check_finished_run(explorer, big, 150, 60)
    assert result.done == 3
    assert result.max_in_flight <= 3


def test_button_click_runs_the_same_code():
    with DemoServer() as server:
        explorer = ConcurrencyExplorer(server=server, requests=8, limit=3, delay=0.05)
        server.reset_stats()
        explorer.button.click()
        explorer.button.click()  # ignored while the first run is going
        result = explorer.wait(timeout=30)
        stats = server.stats()
    assert result is explorer.last_result
    check_finished_run(explorer, result, 8, 3)
    assert stats["total"] == 8


def test_wait_times_out_while_running_and_nothing_to_wait_for():
    with DemoServer() as server:
        explorer = ConcurrencyExplorer(server=server, requests=1, limit=1, delay=0.5)
        assert explorer.wait() is None
        explorer.button.click()
        assert explorer.running
        assert explorer.button.disabled is True
        with pytest.raises(TimeoutError, match="still going"):
            explorer.wait(timeout=0.01)  # the server takes at least 0.5 s to answer
        result = explorer.wait()
    assert not explorer.running
    assert result.done == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failed_requests_are_counted_and_shown():
    explorer = ConcurrencyExplorer(server=f"http://127.0.0.1:{_closed_port()}/", requests=3)
    result = explorer.run()
    assert (result.done, result.failed) == (0, 3)
    assert len(result.errors) == 3
    assert "3 failed (first: request" in explorer.status.value
    assert explorer.progress_bar.value == 3
    assert explorer.progress_bar.bar_style == "danger"
    assert len(result.timeline.spans) == 3
    assert all(span.failed for span in result.timeline.spans)


def test_a_run_that_cannot_start_reports_the_error():
    class Broken:
        def url(self, path):
            raise RuntimeError("server is down")

    explorer = ConcurrencyExplorer(server=Broken(), requests=2)
    with pytest.raises(RuntimeError, match="server is down"):
        explorer.run()
    explorer.button.click()
    explorer.wait(timeout=30)
    assert explorer.status.value == "The run failed: RuntimeError('server is down')"
    assert explorer.button.disabled is False


def test_default_server_is_the_shared_demo_server():
    explorer = ConcurrencyExplorer(requests=2, limit=2, delay=0)
    result = explorer.run()
    assert result.done == 2


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="requests must be at least 1"):
        ConcurrencyExplorer(requests=0)
    with pytest.raises(TypeError, match="limit must be a whole number"):
        ConcurrencyExplorer(limit="5")
    with pytest.raises(ValueError, match="delay must not be negative"):
        ConcurrencyExplorer(delay=-1)
    with pytest.raises(TypeError, match="delay must be a number"):
        ConcurrencyExplorer(delay=float("nan"))
    with pytest.raises(TypeError, match="server must be a DemoServer or a base URL"):
        ConcurrencyExplorer(server=42)
    explorer = ConcurrencyExplorer(server="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="limit must be at least 1"):
        explorer.run(limit=0)
    with pytest.raises(TypeError, match="requests must be a whole number"):
        explorer.run(requests=2.5)


def test_panel_parts_and_display():
    explorer = ConcurrencyExplorer(server="http://127.0.0.1:1", requests=20, limit=5, delay=0.1)
    assert isinstance(explorer.widget, w.VBox)
    assert explorer.requests_slider.description == "requests"
    assert explorer.limit_slider.description == "limit"
    assert explorer.delay_slider.description == "delay"
    assert explorer.button.description == "Run"
    assert isinstance(explorer.progress_bar, w.IntProgress)
    assert isinstance(explorer.status, w.Label)
    assert isinstance(explorer.output, w.Output)
    assert repr(explorer) == "<ConcurrencyExplorer requests=20 limit=5 delay=0.1>"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        explorer._ipython_display_()  # outside a notebook: prints the widget's text form
    assert "VBox" in out.getvalue()


# --------------------------------------------------------------------------- progress


async def wait_and_return(delay, value):
    await asyncio.sleep(delay)
    return value


def test_progress_returns_results_in_argument_order():
    async def main():
        return await progress(
            [wait_and_return(0.3, "a"), wait_and_return(0.1, "b"), wait_and_return(0.2, "c")],
            desc="letters",
        )

    with contextlib.redirect_stderr(io.StringIO()):  # the text bar of tqdm outside Jupyter
        run = run_virtual(main)
    assert run.value == ["a", "b", "c"]
    assert run.loop_time == 0.3  # all at once, like gather
    assert run.problems == []


def test_progress_accepts_tasks_and_empty_lists():
    async def main():
        task = asyncio.create_task(wait_and_return(0.1, 1))
        return await progress(x for x in [task, wait_and_return(0.2, 2)]), await progress([])

    with contextlib.redirect_stderr(io.StringIO()):
        run = run_virtual(main)
    assert run.value == ([1, 2], [])


def test_progress_raises_the_first_error_and_cancels_the_rest():
    async def fail():
        await asyncio.sleep(0.1)
        raise ValueError("bad")

    async def main():
        return await progress([fail(), wait_and_return(10, "slow")])

    with contextlib.redirect_stderr(io.StringIO()):
        run = run_virtual(main, catch=True)
    assert isinstance(run.error, ValueError)
    assert run.loop_time == 0.1
    assert run.problems == []  # nothing left running, nothing unretrieved


def test_progress_rejects_what_is_not_awaitable():
    async def main(arg):
        return await progress(arg)

    with pytest.raises(TypeError, match="needs a list of awaitables"):
        run_virtual(main, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the coroutine in the list is closed, not leaked
        with pytest.raises(TypeError, match="item 1 is 3: did you forget to call"):
            run_virtual(main, [wait_and_return(0, 1), 3])


# ------------------------------------------------------------------- in a real kernel

_KERNEL_CELLS = [
    """\
from asynclab.server import DemoServer
from asynclab.widgets import ConcurrencyExplorer, progress
import asyncio
server = DemoServer().start()
explorer = ConcurrencyExplorer(server=server, requests=6, limit=2, delay=0.05)
explorer
""",
    "explorer.button.click()",
    """\
result = explorer.wait(timeout=30)
print(explorer.status.value.split(" in ")[0], result.max_in_flight)
""",
    """\
async def square(x):
    await asyncio.sleep(0.01 * (5 - x))
    return x * x

print(await progress([square(x) for x in range(5)], desc="squares"))
""",
    """print(explorer.run(requests=4, limit=4, delay=0).done)  # blocks the cell until done
server.stop()
""",
]


def test_in_a_real_kernel_the_button_works_without_stderr():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in _KERNEL_CELLS]
    NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    outputs = [cell.outputs for cell in nb.cells]
    streams = [o for out in outputs for o in out if o["output_type"] == "stream"]
    assert [o["name"] for o in streams] == ["stdout", "stdout", "stdout"], streams
    assert outputs[0][0]["data"].keys() >= {"application/vnd.jupyter.widget-view+json"}
    assert outputs[2][0]["text"] == "6/6 done 2\n"
    assert outputs[3][-1]["text"] == "[0, 1, 4, 9, 16]\n"
    assert outputs[4] == [nbformat.v4.new_output("stream", name="stdout", text="4\n")]
    # the progress bar is a widget in Jupyter, not text on stderr
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs[3])
