"""The asynclab ConcurrencyExplorer in the page: it renders, takes new settings from the
keyboard, and its progress bar, status line and timeline picture follow a run started with
its Run button."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import WIDGET_SCRATCH

pytestmark = pytest.mark.xdist_group("browser")

REQUESTS, LIMIT, DELAY = 12, 3, 0.2  # 4 rounds of 0.2 s: long enough to see progress move

STATE_JS = """widget => {
    const slider = name => [...widget.querySelectorAll('.widget-slider')]
        .find(s => s.querySelector('.widget-label')?.textContent.trim() === name);
    const value = name => parseFloat(
        slider(name)?.querySelector('.noUi-handle')?.getAttribute('aria-valuenow'));
    return {
        requests: value('requests'), limit: value('limit'), delay: value('delay'),
        progress: widget.querySelector('.widget-hprogress .widget-label')?.textContent.trim(),
        bar: widget.querySelector('.widget-hprogress .progress-bar')?.style.width,
        status: widget.querySelector(':scope > .widget-label')?.textContent.trim(),
        pictures: [...widget.querySelectorAll('.widget-output img')]
            .map(img => img.complete && img.naturalWidth > 0),
        seen: window.__explorerSeen ?? null,
    };
}"""

RECORD_JS = """widget => {
    // Note every text the progress label and the status line show from now on.
    window.__explorerSeen = {progress: [], status: []};
    const watch = (el, list) => new MutationObserver(() => list.push(el.textContent.trim()))
        .observe(el, {childList: true, characterData: true, subtree: true});
    watch(widget.querySelector('.widget-hprogress .widget-label'), window.__explorerSeen.progress);
    watch(widget.querySelector(':scope > .widget-label'), window.__explorerSeen.status);
}"""


def wait_for_state(page, widget, ok, what: str, timeout: float = 30):
    """Poll the panel until ``ok(state)``; fail saying ``what`` was expected and what it shows."""
    deadline = time.monotonic() + timeout
    while True:
        state = widget.evaluate(STATE_JS)
        if ok(state):
            return state
        if time.monotonic() > deadline:
            shown = {k: v for k, v in state.items() if k != "seen"}
            raise AssertionError(f"{what}; after {timeout} s the panel shows {shown}")
        page.wait_for_timeout(100)


def test_concurrency_explorer_reacts(lab):
    page = lab.page
    panel_id = lab.open(WIDGET_SCRATCH, cells=1)
    lab.run_cell(panel_id, 0)
    widget = lab.panel(panel_id).locator(".jp-OutputArea-output > .widget-vbox").first
    widget.wait_for(timeout=60_000)
    state = wait_for_state(page, widget, lambda s: s["status"] is not None,
                           "the ConcurrencyExplorer panel should render")
    assert state["status"] == "Choose the settings and press Run.", state
    assert state["pictures"] == [], state

    # Type new values into the readouts of requests and delay, move limit with the keyboard.
    for name, value in (("requests", REQUESTS), ("delay", DELAY)):
        readout = widget.locator(".widget-slider", has=page.locator(
            ".widget-label", has_text=re.compile(f"^{name}$"))).locator(".widget-readout")
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(str(value))
        page.keyboard.press("Enter")
    handle = widget.locator(".widget-slider", has=page.locator(
        ".widget-label", has_text=re.compile("^limit$"))).locator(".noUi-handle")
    handle.focus()
    for _ in range(LIMIT - int(state["limit"])):
        page.keyboard.press("ArrowRight")
    wait_for_state(
        page, widget,
        lambda s: (s["requests"], s["limit"], round(s["delay"], 6)) == (REQUESTS, LIMIT, DELAY),
        f"the sliders should show requests={REQUESTS}, limit={LIMIT}, delay={DELAY}")

    widget.evaluate(RECORD_JS)
    widget.locator("button", has_text="Run").click()

    wait_for_state(page, widget,
                   lambda s: s["progress"] == f"{REQUESTS} done" and s["bar"] == "100%",
                   f"after Run the progress bar should fill up to '{REQUESTS} done'")
    expected = rf"{REQUESTS}/{REQUESTS} done in \d+\.\d\d s, max in flight {LIMIT}"
    wait_for_state(page, widget, lambda s: re.fullmatch(expected, s["status"] or ""),
                   f"after Run the status line should report the run ({expected!r})")
    state = wait_for_state(page, widget, lambda s: s["pictures"] and all(s["pictures"]),
                           "after Run the panel should show the run's timeline picture")

    seen = state["seen"]
    counts = [int(m.group(1)) for t in seen["progress"] if (m := re.fullmatch(r"(\d+) done", t))]
    assert any(0 < c < REQUESTS for c in counts), (
        f"the progress bar did not move during the run, it showed {seen['progress']}")
    assert counts == sorted(counts), f"the progress went backwards: {seen['progress']}"
    assert any(t.startswith(f"Sending {REQUESTS} requests, at most {LIMIT} at a time")
               for t in seen["status"]), f"the status line showed {seen['status']}"
    widget.scroll_into_view_if_needed()
