"""The grading guard's own logic, without a kernel: the deep snapshot (code, defaults,
closures, class dicts, module dicts), what it takes for library state and what for
tampering, the threads it stops, and what its audit hook sees (in a separate process, since
an audit hook cannot be removed). The hostile submissions in tests/hostile/ check the same
guard end to end, in real grading."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader import kernel_guard as guard
from grader.kernel_guard import Snapshot

SOURCE = '''
import re

LIMIT = 0.05
_pattern = None
_cache = {}


def check(value, expected, tol=1e-3, *, strict=True):
    if strict and abs(value - expected) > tol:
        raise AssertionError(f"{value} is not {expected}")
    return "ok"


def counter():
    count = 0

    def tick():
        nonlocal count
        count += 1
        return count

    return tick


tick = counter()


def threshold(step):
    return step >= LIMIT


class Base:
    def describe(self):
        return "base"


class Run(Base):
    kind = "virtual"

    def __init__(self, problems):
        self._problems = problems

    @property
    def problems(self):
        return list(self._problems)

    @staticmethod
    def make(problems):
        return Run(problems)

    @classmethod
    def empty(cls):
        return cls([])
'''


def make_module(name: str):
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(SOURCE, f"<{name}>", "exec"), vars(module))
    return module


@pytest.fixture
def modules():
    """A strict module (its data protected, as asynclab's is) and a library module (only
    its code protected, as IPython's is), snapshotted."""
    strict, library = make_module("guardtest.strict"), make_module("guardtest.library")
    snap = Snapshot(prefixes=("guardtest",), course=("guardtest.strict",),
                    copied=("guardtest.strict",), unwatched=(), strict=("guardtest.strict",))
    snap.grow()
    yield snap, strict, library
    for name in ("guardtest.strict", "guardtest.library"):
        sys.modules.pop(name, None)


def changes(snap) -> list[str]:
    return [what for _, what in snap.check()]


def test_nothing_changed_nothing_reported(modules):
    snap, strict, library = modules
    assert changes(snap) == []
    assert strict.check(1.0, 1.0) == "ok"


def test_code_defaults_and_keyword_defaults_changed_in_place_are_put_back(modules):
    snap, strict, _ = modules
    original = strict.check

    def no_check(value, expected, tol=1e-3, *, strict=True):
        return "ok"

    strict.check.__code__ = no_check.__code__
    assert strict.check(1.0, 9.0) == "ok"  # the attack works until the guard looks
    assert changes(snap) == ["guardtest.strict.check.__code__"]
    with pytest.raises(AssertionError):
        strict.check(1.0, 9.0)
    strict.check.__defaults__ = (100.0,)
    strict.check.__kwdefaults__["strict"] = False  # the same dict, changed in place
    assert changes(snap) == ["guardtest.strict.check.__defaults__",
                             "guardtest.strict.check.__kwdefaults__"]
    assert strict.check is original and strict.check.__kwdefaults__ == {"strict": True}
    with pytest.raises(AssertionError):
        strict.check(1.0, 9.0)
    assert changes(snap) == []  # and the quick comparison is in step again


def test_a_value_that_lies_about_equality_is_still_a_change(modules):
    snap, strict, _ = modules

    class Liar:
        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

    strict.check.__kwdefaults__["strict"] = Liar()
    strict.LIMIT = Liar()
    assert changes(snap) == ["guardtest.strict.LIMIT", "guardtest.strict.check.__kwdefaults__"]
    assert strict.LIMIT == 0.05 and strict.check.__kwdefaults__["strict"] is True


def test_closure_contents_are_put_back_in_strict_modules(modules):
    snap, strict, library = modules
    cell = next(c for c in strict.tick.__closure__ if isinstance(c.cell_contents, int))
    cell.cell_contents = 41
    library.tick()  # a library's function counting in its closure: its own state
    assert changes(snap) == ["guardtest.strict.counter.<locals>.tick.__closure__"]
    assert strict.tick() == 1


def test_class_dicts_properties_static_and_class_methods(modules):
    snap, strict, _ = modules
    Run = strict.Run
    Run.problems = property(lambda self: [])
    Run.make.__code__ = (lambda problems: None).__code__  # the staticmethod's function
    Run.kind = "real"
    assert sorted(changes(snap)) == ["guardtest.strict.Run.kind", "guardtest.strict.Run.make.__code__",
                                     "guardtest.strict.Run.problems"]
    assert Run.make(["blocked"]).problems == ["blocked"] and Run.kind == "virtual"
    Run.describe = lambda self: "shadowed"  # new here, but hides the base class's method
    Run.__slotnames__ = []  # what copyreg adds when an instance is copied: not tampering
    assert changes(snap) == ["guardtest.strict.Run.describe"]
    assert Run([]).describe() == "base" and "__slotnames__" in vars(Run)
    strict.Base.describe.__code__ = (lambda self: "changed").__code__  # reached through Run's bases
    assert changes(snap) == ["guardtest.strict.Base.describe.__code__"]


def test_names_that_shadow_builtins_are_removed_others_kept(modules):
    snap, strict, library = modules
    library.abs = lambda x: 0  # would change threshold() and check() of that module
    library.extra = "harmless"
    assert changes(snap) == ["guardtest.library.abs"]
    assert not hasattr(library, "abs") and library.extra == "harmless"
    strict.extra = "not in the course's own modules"
    assert changes(snap) == ["guardtest.strict.extra"]


def test_library_state_is_accepted_code_is_not(modules):
    snap, strict, library = modules
    library._cache = {"filled": 1}  # a library's data: its own business
    library._pattern = object()
    library.LIMIT = 99
    assert changes(snap) == []
    assert library.LIMIT == 99
    library.threshold = lambda step: True  # code, even in a library
    assert changes(snap) == ["guardtest.library.threshold"]
    # in a strict module, data is protected, but a global left empty may be filled once
    # with the library's own data (a regular expression compiled on first use)
    import re

    strict._pattern = re.compile("x")
    strict.LIMIT = 99.0
    assert changes(snap) == ["guardtest.strict.LIMIT"]
    assert strict.LIMIT == 0.05 and strict._pattern is not None
    strict._cache["answer"] = lambda: None  # a course module's dict, changed in place
    assert changes(snap) == ["guardtest.strict._cache (its contents)"]
    assert strict._cache == {}


def test_a_module_given_another_class_is_put_back(modules):
    snap, strict, _ = modules

    class Sneaky(types.ModuleType):
        def __getattribute__(self, name):
            return (lambda *a, **k: "ok") if name == "check" else super().__getattribute__(name)

    strict.__class__ = Sneaky
    assert strict.check(1, 2) == "ok"
    assert changes(snap) == ["guardtest.strict (its class)"]
    assert type(strict) is types.ModuleType


def test_new_modules_and_names_join_the_snapshot_without_overwriting(modules):
    snap, strict, _ = modules
    strict.LIMIT = 1.0  # changed before the course's next cell ...
    strict.added_later = lambda: "course"
    make_module("guardtest.later")
    assert snap.grow() == 1  # ... which brings a module: it joins, LIMIT keeps its value
    sys.modules["guardtest.later"].check.__code__ = (lambda *a, **k: "ok").__code__
    assert changes(snap) == ["guardtest.strict.LIMIT", "guardtest.later.check.__code__"]
    strict.added_later = None
    assert changes(snap) == ["guardtest.strict.added_later"]
    sys.modules.pop("guardtest.later")


# ------------------------------------------------------------------------------ threads


@pytest.fixture
def thread_state():
    saved = dict(guard._state)
    guard._state.clear()
    guard._state.update(threads=guard._known_threads(), cell_prefix=None,
                        pool_worker_code=guard._pool_worker_code())
    yield
    guard._state.clear()
    guard._state.update(saved)


def test_threads_left_running_are_stopped_and_named(thread_state):
    pool = ThreadPoolExecutor(max_workers=1)
    pool.submit(lambda: None).result()  # an idle pool worker: left alone
    time.sleep(0.05)

    def keep_patching():
        try:
            while True:
                time.sleep(0.001)
        except SystemExit:  # (the default threading.excepthook ignores it; pytest's does not)
            return

    patcher = threading.Thread(target=keep_patching, daemon=True)
    patcher.start()
    stopped, alive = guard._stop_threads()
    assert stopped == [f"thread '{patcher.name}', running keep_patching() in {__name__}"]
    assert alive == {} and not patcher.is_alive()
    assert guard._stop_threads() == ([], {})
    pool.shutdown()


def test_a_thread_that_cannot_be_stopped_is_named_and_did_it_run(thread_state):
    done = threading.Event()
    caught = []

    def stubborn():
        while not done.is_set():
            try:
                time.sleep(0.001)
            except SystemExit:
                caught.append(1)

    thread = threading.Thread(target=stubborn, name="stubborn", daemon=True)
    thread.start()
    stopped, alive = guard._stop_threads()
    assert stopped == [] and list(alive.values()) == [
        f"thread 'stubborn', running stubborn() in {__name__}"]
    assert len(caught) >= 2  # asked more than once
    # it keeps running: the scheduler's statistics of the thread move ...
    before = guard._scheduled(thread)
    time.sleep(0.05)
    assert before is not None and guard._scheduled(thread) != before
    done.set()
    thread.join(1)
    assert not thread.is_alive()
    # ... those of a thread blocked all along do not
    blocked_on = threading.Event()
    sleeper = threading.Thread(target=blocked_on.wait, daemon=True)
    sleeper.start()
    time.sleep(0.02)
    before = guard._scheduled(sleeper)
    time.sleep(0.05)
    assert guard._scheduled(sleeper) == before
    blocked_on.set()
    sleeper.join(1)


# ---------------------------------------------------------------------- the audit hook

AUDIT = '''
import sys, threading
from grader import kernel_guard as g

module = type(sys)("guardtest.audit")
sys.modules[module.__name__] = module
exec("def check(x, *, tol=1e-3):\\n    return x", vars(module))
snap = g.Snapshot(prefixes=("guardtest",), unwatched=())
snap.grow()
g._state.update(snap=snap, events=[])
g._install_audit_hook()

module.check.__code__ = (lambda x, *, tol=1e-3: None).__code__
t = threading.Thread(target=lambda: sys.settrace(None))
t.start(); t.join()
g._state["quiet"] = True          # the guard's own changes, in the main thread, are not
module.check.__defaults__ = None  # reported to itself
g._state["quiet"] = False
try:
    g.before_test.__code__ = (lambda: "{}").__code__
except RuntimeError as exc:
    print("refused:", exc)
for event, ident, what in g._events():
    print(event, "main" if ident == threading.main_thread().ident else "thread", what)
'''


def test_the_audit_hook_sees_in_place_changes_and_trace_functions_in_any_thread():
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(AUDIT)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "refused: the grading guard cannot be changed",
        "object.__setattr__ main guardtest.audit.check.__code__",
        "sys.settrace thread <lambda>() in __main__",
    ], out.stdout
