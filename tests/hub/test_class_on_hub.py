"""A class on a real JupyterHub, from release to the students' feedback.

The instructor releases 01_coroutines from the formgrader; two students fetch it from their
Assignments list, one solves it (saves the solved notebook through JupyterLab's contents
API, as the editor does) and one hands it in untouched; both submit. The instructor
collects, grades with ``python -m grader autograde`` run as in a terminal of their
JupyterLab, writes feedback with ``python -m grader feedback`` and releases it; the
students fetch it. Every step goes through the hub's proxy to the users' own servers
(nbgrader's server endpoints), which run as the users themselves.

Then: the grades (14/14 and 0/14), the formgrader's manual-grading view on those results,
that nothing a student can read holds a line of a hidden test, that a student cannot read
the course folder or another student's work nor write into another's folder, and how the
student's JupyterLab looks (headless Chromium, with a screenshot).

The steps run on first need (``Cycle``), so any test can run alone (``-k``); in file order
each step runs once. Timings and the memory a student uses go to test-artifacts/hub/.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import threading
import time
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest
from browser.conftest import CHROMIUM_FLAGS, VIEWPORT, Lab, _missing, find_chromium, first_exercise
from traitlets.config.loader import PyFileConfigLoader

from grader import course

from .conftest import COURSE_ID, HUB_ARTIFACTS, REPO, HubClass, localhub

pytestmark = pytest.mark.xdist_group("hub")

A = "01_coroutines"
NOTE = "Start with Exercise 1: which asyncio function waits without blocking?"


def points(aid: str) -> float:
    nb = nbformat.read(course.source_notebook(aid), as_version=4)
    return sum(p for tests in course.exercises(nb).values() for _, p in tests)


def hidden_test_lines(aid: str) -> set[str]:
    """The lines of the hidden tests that appear nowhere in the student release."""
    source = nbformat.read(course.source_notebook(aid), as_version=4)
    release = "\n".join(c.source for c in
                        nbformat.read(course.release_notebook(aid), as_version=4).cells)
    begin, end = course.HIDDEN_MARKERS
    lines, inside = set(), False
    for cell in source.cells:
        for line in cell.source.splitlines():
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside and line.strip() and line.strip() not in release:
                lines.add(line.strip())
    return lines


# Run as a student: every file they can read below the folders given, as plain text (JSON
# strings joined, HTML without tags), checked for the hidden-test lines read from stdin.
SCAN = r"""
import html, json, os, re, sys
secret = json.load(sys.stdin)

def strings(x):
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from strings(v)

found = {}
for top in sys.argv[1:]:
    for folder, dirs, files in os.walk(top):  # folders it cannot list are passed over
        for name in files:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    text = f.read(50_000_000).decode("utf-8", "replace")
            except OSError:
                continue
            try:
                text = "\n".join(strings(json.loads(text)))
            except ValueError:
                pass
            if name.endswith(".html"):
                text = html.unescape(re.sub(r"<[^>]+>", "", text))
            found[path] = sorted(s for s in secret if s in text)
print(json.dumps(found))
"""

# Run as a student: try each (operation, path); say what happened.
TRY = r"""
import json, os, sys
out = []
for op, path in json.loads(sys.argv[1]):
    try:
        if op == "read":
            with open(path, "rb") as f:
                f.read(1)
        elif op == "list":
            os.listdir(path)
        elif op == "write":
            with open(os.path.join(path, "planted.txt"), "x") as f:
                f.write("written by another user")
        out.append("allowed")
    except PermissionError:
        out.append("denied")
    except FileNotFoundError:
        out.append("missing")
print(json.dumps(out))
"""


class Cycle:
    """The class's steps, each done once, on first need, in order."""

    def __init__(self, hub: HubClass):
        self.hub = hub
        self.done: dict[str, object] = {}

    def step(self, name: str, fn):
        if name not in self.done:
            start = time.monotonic()
            self.done[name] = fn()
            self.hub.timings[name] = time.monotonic() - start
        return self.done[name]

    def released(self):
        def run():
            h = self.hub
            # Everyone logs in; the instructor's server is needed first.
            h.start_servers(h.teacher, *h.students)
            h.wait_servers(h.teacher)
            h.formgrader("assign", A)  # Generate (nbgrader generate_assignment)
            return h.formgrader("release", A)
        return self.step("release", run)

    def submitted(self):
        self.released()

        def run():
            h = self.hub
            h.wait_servers(*h.students)
            for student in h.students:
                h.nbgrader(student, "fetch", A)
            fetched = h.call("GET", f"/user/{h.solved}/api/contents/{A}/{A}.ipynb")
            nb = nbformat.from_dict(fetched["content"])
            solved = course.fill_answers(nb, course.solution_answers(A))
            h.call("PUT", f"/user/{h.solved}/api/contents/{A}/{A}.ipynb",
                   body={"type": "notebook", "format": "json", "content": solved})
            return {s: h.nbgrader(s, "submit", A) for s in h.students}
        return self.step("fetch and submit", run)

    def collected(self):
        self.submitted()
        return self.step("collect", lambda: self.hub.formgrader("collect", A))

    def graded(self):
        self.collected()

        def run():
            h = self.hub
            answered = []  # (start, end) of each status request answered while grading
            grading = threading.Event()
            stop = threading.Event()

            def poll():
                while not stop.is_set():
                    start = time.monotonic()
                    status, _ = h.request("GET", f"/user/{h.teacher}/api/status", timeout=30)
                    if status == 200 and grading.is_set():
                        answered.append((start, time.monotonic()))
                    stop.wait(0.2)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            grading.set()
            start = time.monotonic()
            proc = h.run_as(h.teacher, ["python", "-m", "grader", "autograde", A,
                                        "--course", str(h.course), "--no-progress"])
            end = time.monotonic()
            grading.clear()
            stop.set()
            poller.join(timeout=35)
            assert proc.returncode == 0, f"python -m grader autograde:\n{proc.stdout}{proc.stderr}"
            during = [(s, e) for s, e in answered if s >= start and e <= end]
            h.facts["instructor server during autograde"] = {
                "autograde seconds": round(end - start, 2),
                "status requests answered": len(during),
                "slowest answer seconds": round(max((e - s for s, e in during), default=0), 3),
            }
            return proc.stdout, during
        return self.step("autograde (python -m grader, as the instructor)", run)

    def commented(self) -> str:
        """The instructor comments on the untouched student's first answer in the
        formgrader's manual-grading view; returns the comment's id."""
        self.graded()

        def run():
            h = self.hub
            fg = f"/user/{h.teacher}/formgrader/api"
            notebooks = h.call("GET", f"{fg}/submitted_notebooks/{A}/{A}")
            sid = next(n["id"] for n in notebooks if n["student"] == h.untouched)
            comments = h.call("GET", f"{fg}/comments?submission_id={sid}")
            assert comments, "no answer to comment on"
            h.call("PUT", f"{fg}/comment/{comments[0]['id']}", body={"manual_comment": NOTE})
            return comments[0]["id"]
        return self.step("manual grading (a comment)", run)

    def feedback_fetched(self):
        self.commented()

        def run():
            h = self.hub
            proc = h.run_as(h.teacher, ["python", "-m", "grader", "feedback", A,
                                        "--course", str(h.course)])
            assert proc.returncode == 0, f"python -m grader feedback:\n{proc.stdout}{proc.stderr}"
            h.formgrader("release_feedback", A)
            return {s: h.nbgrader(s, "fetch_feedback", A) for s in h.students}
        return self.step("feedback, release and fetch", run)

    def feedback_pages(self, student: str) -> list[str]:
        """The feedback pages in the student's home, read through their server."""
        h = self.hub
        root = h.call("GET", f"/user/{student}/api/contents/{A}/feedback")
        pages = []
        for folder in root["content"]:
            listing = h.call("GET", f"/user/{student}/api/contents/{quote(folder['path'])}")
            for item in listing["content"]:
                if item["name"].endswith(".html"):
                    page = h.call("GET", f"/user/{student}/api/contents/{quote(item['path'])}"
                                  "?type=file&format=text")
                    pages.append(page["content"])
        return pages

    def leaks(self, student: str) -> dict[str, list[str]]:
        """Every file the student can read in the exchange and their home -> the hidden-test
        lines it holds."""
        h = self.hub
        return h.python_as(student, SCAN, str(h.exchange), str(h.home(student)),
                           stdin=json.dumps(sorted(hidden_test_lines(A))))


@pytest.fixture(scope="module")
def cycle(hub_class) -> Cycle:
    return Cycle(hub_class)


def test_instructor_releases_and_students_fetch_and_submit(cycle):
    h = cycle.hub
    cycle.submitted()
    released = h.exchange / COURSE_ID / "outbound" / A / f"{A}.ipynb"
    assert released.is_file(), "the release is not in the exchange"
    for student in h.students:
        listed = h.call("GET", f"/user/{student}/assignments?course_id={COURSE_ID}")["value"]
        statuses = {(a["assignment_id"], a["status"]) for a in listed}
        assert (A, "submitted") in statuses, f"{student}'s Assignments list: {listed}"
        owner = (h.home(student) / A / f"{A}.ipynb").owner()
        assert owner == student, f"the fetched notebook belongs to {owner}, not {student}"
    inbound = sorted(p.name.split("+")[0] for p in (h.exchange / COURSE_ID / "inbound").iterdir())
    assert inbound == sorted(h.students), inbound


def test_grading_in_a_terminal_gives_the_grades_and_leaves_the_server_free(cycle):
    h = cycle.hub
    out, during = cycle.graded()
    assert "2 graded, 0 failed" in out, out
    rows = h.call("GET", f"/user/{h.teacher}/formgrader/api/submissions/{A}")
    got = {r["student"]: (r["score"], r["max_score"]) for r in rows}
    full = points(A)
    assert full == 14
    assert got == {h.solved: (full, full), h.untouched: (0.0, full)}, got
    h.facts["grades"] = {"solved": f"{got[h.solved][0]:g}/{full:g}",
                         "untouched": f"{got[h.untouched][0]:g}/{full:g}"}
    # Grading ran in its own processes: the instructor's server kept answering meanwhile
    # (the formgrader's Autograde button runs it inside the server, which then answers
    # nothing until the notebook is graded).
    assert len(during) >= 3, (
        f"the instructor's server answered {len(during)} status requests during grading")


def test_formgrader_manual_grading_view_works_on_the_results(cycle):
    h = cycle.hub
    cycle.graded()
    fg = f"/user/{h.teacher}/formgrader"
    notebooks = h.call("GET", f"{fg}/api/submitted_notebooks/{A}/{A}")
    ids = {n["student"]: n["id"] for n in notebooks}
    assert set(ids) == set(h.students), notebooks
    page = h.call("GET", f"{fg}/submissions/{ids[h.solved]}/")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "Student's answer" in text, text[:2000]
    answer = course.solution_answers(A)["brew_coffee"].strip().splitlines()[-1].strip()
    assert answer in text, f"the solved student's answer ({answer}) is not shown"
    # The instructor comments on an answer; the comment is saved in the gradebook (and the
    # feedback shows it: test_students_fetch_feedback_without_a_hidden_test_line).
    comment = cycle.commented()
    assert h.call("GET", f"{fg}/api/comment/{comment}")["manual_comment"] == NOTE
    for path in (f"{fg}/gradebook/{A}/{A}", f"{fg}/manage_submissions/{A}"):
        status, _ = h.request("GET", path)
        assert status == 200, f"{path}: {status}"
    # JupyterLab shows the formgrader in a frame: the instructor's server must allow its own
    # pages in frames (the hub's servers forbid any frame by default, students' still do).
    headers = h.headers(f"{fg}/manage_assignments")
    assert "frame-ancestors 'self'" in headers.get("content-security-policy", ""), headers
    headers = h.headers(f"/user/{h.solved}/lab")
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), headers


def test_grading_service_shows_the_results_apart_from_the_instructors_server(cycle):
    """The hub's grading service: a JupyterLab of its own, run as the instructor on the
    course, where the formgrader's buttons and a terminal grade without touching the
    instructor's own server."""
    h = cycle.hub
    cycle.graded()
    services = h.call("GET", "/hub/api/services")
    assert {"grading", "idle-culler"} <= set(services), sorted(services)
    deadline = time.monotonic() + 120
    while True:  # the hub starts it beside itself; it may still be starting
        status, rows = h.request("GET", f"/services/grading/formgrader/api/submissions/{A}")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200, f"the grading service: {status} {str(rows)[:1000]}"
    got = {r["student"]: r["score"] for r in rows}
    assert got == {h.solved: points(A), h.untouched: 0.0}, got
    pids = [p for p, cmd in h.processes(h.teacher).items() if "jupyterhub-singleuser" in cmd]
    assert len(pids) == 2, f"expected the instructor's server and the service: {pids}"


def test_students_fetch_feedback_without_a_hidden_test_line(cycle):
    h = cycle.hub
    cycle.feedback_fetched()
    full = points(A)
    for student, score in ((h.solved, full), (h.untouched, 0)):
        pages = cycle.feedback_pages(student)
        assert len(pages) == 1, f"{student} fetched {len(pages)} feedback pages"
        assert f"Your results: {score:g} / {full:g} points" in pages[0], pages[0][:3000]
    assert NOTE in html.unescape(cycle.feedback_pages(h.untouched)[0]), (
        "the instructor's comment from the manual-grading view is not in the feedback")
    secret = hidden_test_lines(A)
    assert len(secret) >= 10, secret
    for student in h.students:
        found = cycle.leaks(student)
        # The scan saw what the student can fetch: the release and their feedback.
        assert any(p.endswith(f"outbound/{A}/{A}.ipynb") for p in found), sorted(found)[:20]
        assert any("/feedback/" in p and p.endswith(".html") for p in found), sorted(found)[:20]
        leaked = {p: lines for p, lines in found.items() if lines}
        assert not leaked, f"{student} can read hidden-test lines: {leaked}"


def test_students_cannot_reach_the_course_or_each_others_work(cycle):
    h = cycle.hub
    cycle.feedback_fetched()
    other = h.untouched
    inbound = h.exchange / COURSE_ID / "inbound"
    theirs = next(p for p in inbound.iterdir() if p.name.startswith(other + "+"))
    mine = next(p for p in inbound.iterdir() if p.name.startswith(h.solved + "+"))
    submitted = h.course / "grading" / "submitted" / other / A
    forbidden = [
        ("read", h.course / "solutions" / A / f"{A}.ipynb"),
        ("read", h.course / "grading" / "gradebook.db"),
        ("list", h.course),
        ("read", submitted / f"{A}.ipynb"),
        ("write", submitted),  # collected folders are 777, like nbgrader's inbound ones
        ("read", h.course / "grading" / "autograded" / other / A / f"{A}.ipynb"),
        ("read", h.course / "grading" / "feedback" / other / A / f"{A}.html"),
        ("list", inbound),
        ("read", theirs / f"{A}.ipynb"),  # even knowing the folder's secret name
        ("write", theirs),
        ("list", h.exchange / COURSE_ID / "feedback"),
        ("read", h.home(other) / A / f"{A}.ipynb"),
        ("write", h.home(other) / A),
        ("write", h.exchange / COURSE_ID / "outbound" / A),
    ]
    # The same checks can come out "allowed": the student's own things, and the release.
    own = [
        ("read", mine / f"{A}.ipynb"),
        ("read", h.home(h.solved) / A / f"{A}.ipynb"),
        ("read", h.exchange / COURSE_ID / "outbound" / A / f"{A}.ipynb"),
        ("write", h.home(h.solved)),
    ]
    checks = forbidden + own
    results = h.python_as(h.solved, TRY, json.dumps([(op, str(p)) for op, p in checks]))
    for (op, path), result in zip(checks[len(forbidden):], results[len(forbidden):],
                                  strict=True):
        assert result == "allowed", f"the student cannot {op} their own {path}: {result}"
    wrong = [f"{op} {path}: {result}" for (op, path), result
             in zip(forbidden, results[:len(forbidden)], strict=True) if result != "denied"]
    assert not wrong, "a student can reach what is not theirs:\n" + "\n".join(wrong)
    for path in h.course.rglob("planted.txt"):
        raise AssertionError(f"a student wrote {path}")
    (h.home(h.solved) / "planted.txt").unlink()  # written in the student's own home
    # The instructor, who collects, can read both submissions in the exchange.
    check = h.python_as(h.teacher, TRY, json.dumps(
        [("read", str(theirs / f"{A}.ipynb")), ("read", str(mine / f"{A}.ipynb"))]))
    assert check == ["allowed", "allowed"], check


class Pages:
    """What ``Lab`` needs from a server: its REST API (as the admin service)."""

    def __init__(self, hub: HubClass, user: str):
        self.hub, self.user = hub, user

    def api(self, path: str):
        return self.hub.call("GET", f"/user/{self.user}{path}")


def kind_of(hub: HubClass, pid: int, cmd: str) -> str:
    if "jupyterhub-singleuser" in cmd:
        service = hub.environ(pid).get("JUPYTERHUB_SERVICE_NAME")
        return f"{service} service" if service else "server"
    for word, kind in (("ipykernel", "kernel"), ("configurable-http-proxy", "proxy"),
                       ("jupyterhub_idle_culler", "idle culler"), ("jupyterhub", "hub")):
        if word in cmd:
            return kind
    return "other"


def memory(hub: HubClass, processes: dict[int, str]) -> dict:
    """Resident (RSS) and proportional (PSS) memory of the processes, by kind, in MiB."""
    out = {}
    for pid, cmd in processes.items():
        try:
            text = open(f"/proc/{pid}/smaps_rollup").read()
            kind = kind_of(hub, pid, cmd)
        except OSError:
            continue
        kb = {m[0]: int(m[1]) for m in re.findall(r"^(Rss|Pss):\s+(\d+) kB", text, re.M)}
        entry = out.setdefault(kind, {"processes": 0, "rss_mib": 0.0, "pss_mib": 0.0})
        entry["processes"] += 1
        entry["rss_mib"] = round(entry["rss_mib"] + kb.get("Rss", 0) / 1024, 1)
        entry["pss_mib"] = round(entry["pss_mib"] + kb.get("Pss", 0) / 1024, 1)
    return out


def hub_processes(hub: HubClass) -> dict[int, str]:
    """The hub and the processes it started as root (the proxy, the idle culler)."""
    out = {}
    for pid in [hub.hub.proc.pid, *localhub.descendants(hub.hub.proc.pid)]:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}").stat().st_uid == 0:
                out[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return out


def test_student_lab_shows_assignments_without_instructor_tools(cycle):
    """Log in as a student in headless Chromium: the Nbgrader menu offers the Assignment
    List only, no formgrader, course list or Create Assignment; the list shows the
    submitted assignment. Then the student opens the notebook and runs it up to the first
    exercise, and the memory of their server and kernel is measured."""
    h = cycle.hub
    chromium = find_chromium()
    if chromium is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    cycle.feedback_fetched()
    user = h.solved
    HUB_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith((h.url + "/", "data:", "blob:"))
                   else route.abort())
        lab = Lab(page, Pages(h, user))

        def shot(name: str) -> None:
            page.screenshot(path=str(HUB_ARTIFACTS / f"{name}.png"))
        try:
            page.goto(f"{h.url}/hub/login")
            page.fill("#username_input", user)
            page.fill("#password_input", h.passwords[user])
            page.click("#login_submit")
            page.wait_for_url(f"**/user/{user}/lab**")
            page.locator(".jp-DirListing-item", has_text=A).wait_for()
            bar = [t.strip() for t in page.locator(".lm-MenuBar-item").all_text_contents()]
            assert "Nbgrader" in bar, bar
            page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
            menu = page.locator(".lm-Menu:visible")
            menu.locator(".lm-Menu-item").first.wait_for()
            items = menu.locator(".lm-Menu-item").evaluate_all(
                "items => items.filter(i => i.offsetParent !== null)"
                ".map(i => i.textContent.trim())")
            shot("student-nbgrader-menu")
            page.keyboard.press("Escape")
            assert [i for i in items if i] == ["Assignment List"], items
            right = page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab").evaluate_all(
                "tabs => tabs.map(t => t.title || t.textContent)")
            assert not [t for t in right if "Create Assignment" in t], right
            lab.menu("Nbgrader", "Assignment List")
            panel = page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden)")
            submitted = panel.locator("#submitted_assignments_list .list_item")
            submitted.first.wait_for()
            names = [t.strip() for t in submitted.locator(".item_name").all_text_contents()]
            # The submission, and under it the feedback fetched for it.
            assert names[0] == A and any("view feedback" in n for n in names[1:]), names
            fetched = panel.locator("#fetched_assignments_list .list_item .item_name")
            assert fetched.first.text_content().strip() == A
            shot("student-assignment-list")
            # The student works: open the notebook, run it up to the first exercise.
            path = f"{A}/{A}.ipynb"
            nb = nbformat.read(course.release_notebook(A), as_version=4)
            stop = first_exercise(nb)
            panel_id = lab.open(path, cells=len(nb.cells))
            lab.run_all_above(panel_id, stop)
            cells = lab.wait_cells_done(panel_id, stop, timeout=120)
            shown = " ".join(o["text"] for c in cells for o in c["outputs"])
            assert "Setup complete." in shown, shown[:2000]
            shot("student-notebook")
            h.facts["memory MiB: a student with one notebook open"] = memory(
                h, h.processes(user))
            h.facts["memory MiB: the instructor (server, grading service)"] = memory(
                h, h.processes(h.teacher))
            h.facts["memory MiB: the hub, proxy and idle culler"] = memory(
                h, hub_processes(h))
        except BaseException:
            shot("student-failure")
            raise
        finally:
            browser.close()
    h.timings["browser: log in, Assignments list, run the notebook"] = time.monotonic() - start


def plain_feedback_hides_hidden_tests() -> bool:
    """Whether the course configures nbgrader's own generate_feedback (the formgrader's
    button) with a preprocessor that hides hidden tests."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    return bool(config.get("GenerateFeedback", {}).get("preprocessors"))


def test_formgrader_feedback_button_hides_hidden_tests_too(cycle):
    """The plain route: the formgrader's Generate Feedback and Release Feedback buttons,
    then the students fetch. Nothing they can read may hold a hidden-test line."""
    assert plain_feedback_hides_hidden_tests(), \
        "nbgrader_config.py must configure GenerateFeedback.preprocessors"
    h = cycle.hub
    cycle.feedback_fetched()
    h.formgrader("generate_feedback", A)
    h.formgrader("release_feedback", A)
    for student in h.students:
        h.nbgrader(student, "fetch_feedback", A)
    leaked = {}
    for student in h.students:
        found = cycle.leaks(student)
        leaked.update({p: lines for p, lines in found.items() if lines})
    n = len(hidden_test_lines(A))
    h.facts["formgrader feedback: hidden lines a student can read"] = {
        p: f"{len(lines)} of {n}" for p, lines in leaked.items()}
    assert not leaked, f"hidden-test lines reach students: { {p: len(v) for p, v in leaked.items()} }"
