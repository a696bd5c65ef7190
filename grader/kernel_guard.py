"""The grader's agent inside a student's kernel (imported by the kernel, never by students).

The grader (:mod:`grader.preprocessors`) calls it through ``user_expressions`` of silent
execute requests, a path that IPython's input transformers and event hooks do not touch:

- :func:`install` when the kernel starts, before any notebook cell: it imports what the
  judging path needs (``urllib.request``, ``http.client``, ``json``, ``socket``...) and takes
  the first snapshot;
- :func:`course_cell_done` after each cell the course wrote (setup, examples, helpers): the
  snapshot grows by what that cell brought (modules it imported, classes and functions they
  hold, names it bound, threads it started). Entries already in the snapshot are never
  overwritten: a course cell may run after an answer cell, and it started from a restored
  state anyway;
- :func:`before_test` just before a test cell, and before a course cell that follows an
  answer: it puts back everything that differs from the snapshot, resets trace and profile
  functions, stops the threads (and cancels the event loop's tasks) the answers left
  running, and says what it did;
- the test cell itself ends with a call to :func:`passed` with a fresh random token, so a
  test counts only if it ran to its last line (fail-closed);
- :func:`after_test` right after the test cell: did it reach its last line, did anything
  protected change while it ran (an answer that tampers while the test calls it), is a
  thread the answers started still running? Then everything is restored again.

What the snapshot holds, for the modules of the course (``asynclab``), of its clock
(``looptime``), of the machinery (``asyncio``, ``threading``, ``concurrent``, IPython,
ipykernel, jupyter_client, zmq, traitlets, ``logging``, ``warnings``...) and of the judging
path (``urllib``, ``http``, ``json``, ``socket``, aiohttp...):

- every entry of their module dicts, by identity, and the module's class. Code is held
  everywhere; data (constants such as ``BLOCKING_THRESHOLD``, state) where the checks rely
  on it: the course's modules, ``asyncio``, ``threading``, ``time``, ``logging``,
  ``warnings``, the judging path. Elsewhere a library's own data may change (a cache
  filled, a pattern compiled on first use), and so may a global a library fills on first
  use;
- every class found there (and its bases), its ``__dict__`` entry by entry (properties,
  static and class methods included) and its metaclass;
- every function found there or in those classes (getters and setters of properties,
  wrapped functions, functions in closures), its ``__code__``, ``__defaults__``,
  ``__kwdefaults__`` (contents too) and what its closure cells hold;
- the course's own module-level lists, dicts and sets, shallow copies;
- the ``sys`` hooks and functions, the builtins, IPython's transformers, exception handlers,
  hooks, execution settings and classes, and the names the course's cells bound.

An audit hook (``sys.addaudithook``) also sees, in every thread, trace or profile functions
being set and protected functions or classes being changed in place, even when the change
is undone before the test ends; and it refuses changes to the guard's own functions.

This raises the bar; it is not a sandbox: code in the same process can always reach the
guard or the channel it answers through. The grader therefore also flags answers that reach
for the machinery (see :mod:`grader.integrity`).

Each call measures its own cost (``"ms"``, and ``"cpu_ms"`` of CPU time, in its answer); the
grader sums them up per notebook.
"""

from __future__ import annotations

import builtins as _builtins
import functools as _functools
import json as _json
import sys as _sys
import threading as _threading
import types as _types
import weakref as _weakref
from gc import get_referents as _referents
from itertools import chain as _chain
from operator import is_ as _is
from time import perf_counter as _clock
from time import sleep as _sleep
from time import thread_time as _cpu

# Bound when the kernel starts, before any answer runs: the guard's own work does not look
# these up again, so an answer that replaces them in ``builtins`` cannot mislead it.
_type, _len, _list, _map, _isinstance, _all, _any = type, len, list, map, isinstance, all, any
_getattr, _setattr, _delattr, _dict, _set = getattr, setattr, delattr, dict, set
_TYPE_SETATTR, _TYPE_DELATTR = type.__setattr__, type.__delattr__
_TYPE_DICT = type.__dict__["__dict__"].__get__  # a class's own namespace, never a fake one
_BUILTINS = vars(_builtins)
_BUILTIN_NAMES = frozenset(_BUILTINS)
_get_ident, _current_frames, _getframe = _threading.get_ident, _sys._current_frames, _sys._getframe
_ACTIVE = _threading._active  # ident -> Thread
_MAIN = _threading.main_thread().ident

_PROTECTED_PREFIXES = (
    # the course, its clock and the guard
    "asynclab", "looptime", "grader.kernel_guard",
    # what the checks rely on
    "asyncio", "concurrent", "threading", "_thread", "time", "builtins", "inspect", "functools",
    "contextvars", "warnings", "logging", "gc", "weakref", "os", "posix", "re", "types",
    "dataclasses", "reprlib", "math", "collections", "operator", "itertools", "selectors",
    "traceback", "linecache", "random",
    # the kernel's machinery, through which cells run and results travel
    "IPython", "ipykernel", "jupyter_client", "zmq", "traitlets", "tornado", "comm",
    # the judging path of the HTTP exercises (the demo server's statistics are read with these)
    "urllib", "http", "json", "socket", "email", "ssl",
    "aiohttp", "aiofiles", "multidict", "yarl", "aiosignal", "frozenlist", "propcache",
    "aiohappyeyeballs",
)
# Their data (constants, caches, state) is protected too; elsewhere only code is (functions,
# classes, modules, descriptors, anything callable), and other changes are the libraries'
# own state (a cache filled, a regular expression compiled on first use).
_STRICT_DATA = ("asynclab", "looptime", "grader.kernel_guard", "threading", "_thread", "time",
                "builtins", "asyncio", "concurrent", "warnings", "logging", "gc",
                "urllib", "http", "json", "socket")
# Tests may patch these for a moment themselves (and restore them): a change while a test
# runs is put back, not held against the answer.
_NOT_WATCHED_DURING_TEST = ("aiofiles", "aiohttp", "multidict", "yarl", "aiosignal",
                            "frozenlist", "propcache", "aiohappyeyeballs")
# The course's own modules: a name added to them is removed; the course's module-level
# lists, dicts and sets are kept as shallow copies.
_COURSE_MODULES = ("asynclab", "grader.kernel_guard")
_COPIED_CONTAINERS = ("asynclab",)
# Imported at kernel start so that their snapshot is taken before any answer runs.
_JUDGING_PATH = ("urllib.request", "urllib.parse", "http.client", "json", "socket",
                 "email.parser", "concurrent.futures.thread", "ctypes")
# Names Python adds to classes at run time (copyreg, when objects are copied or pickled).
_IGNORED_KEYS = frozenset({"__slotnames__"})
# The shell's settings that change how a cell runs or what counts as its result.
_SHELL_SETTINGS = ("ast_node_interactivity", "autoawait", "loop_runner", "autocall",
                   "automagic", "disable_failing_post_execute")
# What the shell and the kernel change at every cell.
_VOLATILE = frozenset({"_parent_header_global", "execution_count", "last_execution_result",
                       "_shell_context", "_last_traceback", "last_execution_succeeded"})
_MACHINERY = ("IPython", "ipykernel", "jupyter_client", "traitlets", "zmq", "tornado", "comm")
_SYS_HOOKS = ("excepthook", "displayhook", "unraisablehook", "breakpointhook", "stdout",
              "stderr", "stdin", "__stdout__", "__stderr__", "__stdin__", "modules",
              "meta_path", "path_hooks", "path_importer_cache", "flags")
_AUDITED = frozenset({"sys.settrace", "sys.setprofile", "object.__setattr__",
                      "object.__delattr__"})
_HEAPTYPE, _IMMUTABLETYPE = 1 << 9, 1 << 8
_MISSING = object()
_CHUNK = 64  # functions compared together when looking for the ones that changed
_STOP_WAIT = 0.5  # seconds to wait for the threads being stopped, at most, per call

_state: dict = {}


def _protected(name: str, prefixes=_PROTECTED_PREFIXES) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_code(value) -> bool:
    return _isinstance(value, (_types.FunctionType, _types.BuiltinFunctionType, type,
                               _types.ModuleType, _types.MethodType, staticmethod,
                               classmethod, property, _types.MethodDescriptorType,
                               _types.WrapperDescriptorType))


def _from_notebook(value) -> bool:
    """Written in the notebook (a function or lambda of the user's namespace)?"""
    func = _getattr(value, "__func__", value)
    return callable(value) and _getattr(func, "__module__", None) in ("__main__", None)


def _code_like(value) -> bool:
    """Code rather than data: anything callable, a module or a descriptor of methods.
    (Asks the value's type only: no code of the value runs.)"""
    return callable(value) or issubclass(_type(value), _CODE_TYPES)


_CODE_TYPES = (_types.ModuleType, property, staticmethod, classmethod,
               _functools.cached_property)


# Flags that a library of a strictly protected module sets once, on first use: accepted.
_LAZY_FLAGS = {
    # the first ProcessPoolExecutor checks the system's limits on semaphores
    ("concurrent.futures.process", "_system_limits_checked", False, True),
}


def _lazy(saved, value) -> bool:
    """A library filling a global it left empty (``None``) with data of its own on first use."""
    return saved is None and not _code_like(value) and \
        _getattr(_type(value), "__module__", "__main__") not in ("__main__", None)


def _mutable_class(cls) -> bool:
    flags = cls.__flags__
    return bool(flags & _HEAPTYPE) and not flags & _IMMUTABLETYPE


def _functions_in(value, depth: int = 0):
    """The Python functions behind ``value``: itself, what a method, static or class method,
    property or partial wraps, and functions held in its closure (decorated originals)."""
    if depth > 3:
        return
    if _isinstance(value, _types.FunctionType):
        yield value
        wrapped = value.__dict__.get("__wrapped__") if value.__dict__ else None
        inner = [wrapped] if wrapped is not None else []
        for cell in value.__closure__ or ():
            try:
                inner.append(cell.cell_contents)
            except ValueError:
                continue
        for item in inner:
            if _isinstance(item, (_types.FunctionType, staticmethod, classmethod, property)):
                yield from _functions_in(item, depth + 1)
    elif _isinstance(value, (staticmethod, classmethod, _types.MethodType)):
        yield from _functions_in(value.__func__, depth + 1)
    elif _isinstance(value, property):
        for part in (value.fget, value.fset, value.fdel):
            yield from _functions_in(part, depth + 1)
    elif _isinstance(value, (_functools.cached_property, _functools.partial)):
        yield from _functions_in(_getattr(value, "func", None), depth + 1)


def _name_of(obj) -> str:
    module = _getattr(obj, "__module__", None) or ""
    qualname = _getattr(obj, "__qualname__", None) or _getattr(obj, "__name__", "?")
    return f"{module}.{qualname}" if module and module != "builtins" else qualname


class Snapshot:
    """Modules, their classes and functions, taken deeply; checked and restored quickly.

    ``grow()`` adds what appeared in ``sys.modules`` under the protected names (and names
    added to modules already held), never overwriting what is held. ``check()`` compares,
    restores and returns ``(owner module, what)`` for each thing it put back. The common
    case, nothing changed, is a few comparisons of identities done in C: what the module and
    class dicts, the functions, their keyword defaults and closure cells refer to, as the
    garbage collector lists it (``gc.get_referents``, which asks nothing of the objects).
    """

    def __init__(self, prefixes=_PROTECTED_PREFIXES, course=_COURSE_MODULES,
                 copied=_COPIED_CONTAINERS, unwatched=_NOT_WATCHED_DURING_TEST,
                 strict=_STRICT_DATA):
        self.prefixes = prefixes
        self.course = course
        self.copied = copied
        self.unwatched = unwatched
        self.strict = strict
        self.modules: dict[str, _types.ModuleType] = {}
        self.module_types: dict[str, type] = {}
        self.dicts: dict[str, dict] = {}  # the modules' own dicts (live)
        self.saved: dict[str, dict] = {}  # copies
        self.classes: dict[type, tuple] = {}  # cls -> (its dict (live), copy, metaclass, owner)
        self.funcs: dict = {}  # function -> (code, defaults, kwdefaults, copy, cells, contents, owner)
        self.containers: dict[tuple[str, str], tuple] = {}  # (module, name) -> (object, copy)
        self.protected: set = _set()  # the functions and classes held
        self.watched: set = _set()  # of them, those no test patches itself
        # the functions in chunks, with what each chunk referred to when last known good
        self._chunks: list[list] = []
        self._chunk_refs: list[list] = []
        self._new_funcs: list = []
        self._seen: set[str] = _set()  # module names looked at already

    # -- taking it ---------------------------------------------------------------------

    def grow(self) -> int:
        """Add what appeared since the last call; return how many modules were added."""
        added = 0
        grown = False
        for name, module in _list(_sys.modules.items()):
            if name in self._seen:
                continue
            if _isinstance(module, _types.ModuleType):
                self._seen.add(name)
                if _protected(name, self.prefixes):
                    self._add_module(name, module)
                    added += 1
        for name in self.modules:
            grown |= self._add_new_keys(name)
        if added or grown:
            self._vectors()
        return added

    def _add_module(self, name: str, module) -> None:
        d = vars(module)
        self.modules[name] = module
        self.module_types[name] = _type(module)
        self.dicts[name] = d
        self.saved[name] = _dict(d)
        for key, value in _list(d.items()):
            self._add_value(value, name)
            if _protected(name, self.copied) and _type(value) in (list, dict, set):
                self.containers[(name, key)] = (value, _type(value)(value))

    def _add_new_keys(self, name: str) -> bool:
        d, saved = self.dicts[name], self.saved[name]
        if _len(d) <= _len(saved):  # (a name replaced by another is the check's business)
            return False
        for key in [k for k in d if k not in saved]:
            saved[key] = d[key]
            self._add_value(d[key], name)
        return True

    def _add_value(self, value, owner: str) -> None:
        if _isinstance(value, type):
            self._add_class(value, owner)
        else:
            for func in _functions_in(value):
                self._add_function(func, owner)

    def _owner(self, obj, fallback: str) -> str:
        module = _getattr(obj, "__module__", None)
        return module if _isinstance(module, str) and module in self.modules else fallback

    def _add_class(self, cls, owner: str) -> None:
        if cls in self.classes or not _mutable_class(cls):
            return
        namespace = _referents(_TYPE_DICT(cls))[0]  # the class's own dict, read only here
        owner = self._owner(cls, owner)
        self.classes[cls] = (namespace, _dict(namespace), _type(cls), owner)
        self._remember(cls, owner)
        for value in _list(namespace.values()):
            if _isinstance(value, type):
                self._add_class(value, owner)
            else:
                for func in _functions_in(value):
                    self._add_function(func, owner)
        for base in cls.__mro__[1:]:
            self._add_class(base, owner)
        if _type(cls) is not type:
            self._add_class(_type(cls), owner)

    def _add_function(self, func, owner: str) -> None:
        if func in self.funcs:
            return
        kw = func.__kwdefaults__
        cells = [c for c in func.__closure__ or () if _contents(c) is not _MISSING]
        owner = self._owner(func, owner)
        self.funcs[func] = (func.__code__, func.__defaults__, kw,
                            _dict(kw) if kw is not None else None,
                            cells, [c.cell_contents for c in cells], owner)
        self._remember(func, owner)
        self._new_funcs.append(func)

    def _remember(self, obj, owner: str) -> None:
        self.protected.add(obj)
        if not _protected(owner, self.unwatched):
            self.watched.add(obj)

    def is_watched(self, owner: str) -> bool:
        """Must ``owner``'s objects stay as they are while a test runs?"""
        return not _protected(owner, self.unwatched)

    def _guarded(self, owner: str, saved, value) -> bool:
        """Is this change tampering (put back, reported), or library state (accepted)?"""
        if _protected(owner, self.strict):
            return not _lazy(saved, value)
        return _code_like(saved) or _code_like(value)

    # -- the quick comparison ------------------------------------------------------------

    def _vectors(self, modules=True, classes=True, functions=True) -> None:
        """What the quick comparison compares with, built from the copies (never from the
        live objects, which an answer may have changed since)."""
        if modules:
            self._mods = _list(self.modules.values())
            self._mod_types = _list(self.module_types.values())
            self._mod_dicts = _list(self.dicts.values())
            self._mod_refs = _referents(*self.saved.values())
        if classes:
            self._cls = _list(self.classes)
            self._cls_types = [entry[2] for entry in self.classes.values()]
            self._cls_dicts = [entry[0] for entry in self.classes.values()]
            self._cls_refs = _referents(*(entry[1] for entry in self.classes.values()))
        if functions:
            while self._new_funcs:  # held as they were when added, in chunks of their own
                chunk, self._new_funcs = self._new_funcs[:_CHUNK], self._new_funcs[_CHUNK:]
                self._chunks.append(chunk)
                self._chunk_refs.append(_referents(*chunk))
            self._fns = _list(_chain.from_iterable(self._chunks))
            self._fn_refs = _list(_chain.from_iterable(self._chunk_refs))
            states = _list(self.funcs.values())
            self._stateful = [f for f, s in self.funcs.items() if s[2] is not None or s[4]]
            self._kw = [s[2] for s in states if s[2] is not None]
            self._kw_refs = _referents(*(s[3] for s in states if s[2] is not None))
            self._cells = _list(_chain.from_iterable(s[4] for s in states))
            self._cell_refs = _list(_chain.from_iterable(s[5] for s in states))

    def _modules_same(self) -> bool:
        return (_same(_list(_map(_type, self._mods)), self._mod_types)
                and _same(_referents(*self._mod_dicts), self._mod_refs))

    def _classes_same(self) -> bool:
        return (_same(_list(_map(_type, self._cls)), self._cls_types)
                and _same(_referents(*self._cls_dicts), self._cls_refs))

    def _functions_same(self) -> bool:
        return _same(_referents(*self._fns), self._fn_refs) and self._state_same()

    def _state_same(self) -> bool:
        """Keyword defaults changed in place and closure cells given other contents do not
        show in what the functions themselves refer to."""
        return (_same(_referents(*self._kw), self._kw_refs)
                and _same(_referents(*self._cells), self._cell_refs))

    # -- comparing and restoring -----------------------------------------------------------

    def check(self, restore: bool = True) -> list[tuple[str, str]]:
        """What differs from the snapshot, as (owner module, what); put back if ``restore``."""
        changed: list[tuple[str, str]] = []
        modules_differ = not self._modules_same()
        if modules_differ:
            changed += self._check_modules(restore)
        for (name, key), (obj, copy) in self.containers.items():
            if _container_changed(obj, copy):
                if restore:
                    _refill(obj, copy)
                changed.append((name, f"{name}.{key} (its contents)"))
        classes_differ = not self._classes_same()
        if classes_differ:
            changed += self._check_classes(restore)
        functions_differ = not self._functions_same()
        if functions_differ:
            checked: set = _set()
            for i, chunk in enumerate(self._chunks):
                if not _same(_referents(*chunk), self._chunk_refs[i]):
                    changed += self._check_functions(chunk, restore)
                    checked.update(chunk)
                    if restore:  # what they refer to now is known good again
                        self._chunk_refs[i] = _referents(*chunk)
            if not self._state_same():
                changed += self._check_functions(
                    [f for f in self._stateful if f not in checked], restore)
        if modules_differ or classes_differ or functions_differ or self._new_funcs:
            # (new functions come with names accepted into a module or a class)
            self._vectors(modules_differ, classes_differ,
                          functions_differ or _len(self._new_funcs) > 0)
        return changed

    def _check_modules(self, restore: bool) -> list[tuple[str, str]]:
        changed = []
        for name, module in self.modules.items():
            d, saved = self.dicts[name], self.saved[name]
            if _type(module) is not self.module_types[name]:
                if restore:
                    try:
                        module.__class__ = self.module_types[name]
                    except TypeError:
                        pass
                changed.append((name, f"{name} (its class)"))
            if _same(_referents(d), _referents(saved)):
                continue
            for key, value in _list(saved.items()):
                now = d.get(key, _MISSING)
                if now is value:
                    continue
                if now is not _MISSING and (not self._guarded(name, value, now)
                                            or (name, key, value, now) in _LAZY_FLAGS):
                    saved[key] = now  # the library's own state: accepted
                    continue
                if restore:
                    d[key] = value
                changed.append((name, _describe_entry(name, key)))
            for key in [k for k in d if k not in saved]:
                shadows = name != "builtins" and key in _BUILTIN_NAMES
                if shadows or _protected(name, self.course):
                    if restore:
                        del d[key]
                    changed.append((name, f"{name}.{key}"))
                else:  # a name that shadows nothing: kept, and protected from now on
                    saved[key] = d[key]
                    self._add_value(d[key], name)
            if restore and d.keys() == saved.keys():  # the same entries: in the dict's order
                self.saved[name] = _dict(d)
        return changed

    def _check_classes(self, restore: bool) -> list[tuple[str, str]]:
        changed = []
        for cls, (namespace, copy, meta, owner) in _list(self.classes.items()):
            where = _name_of(cls)
            if _type(cls) is not meta:
                if restore:
                    try:
                        cls.__class__ = meta
                    except TypeError:
                        pass
                changed.append((owner, f"{where} (its metaclass)"))
            if _same(_referents(namespace), _referents(copy)):
                continue
            for key, value in _list(copy.items()):
                now = namespace.get(key, _MISSING)
                if now is value:
                    continue
                if now is not _MISSING and not self._guarded(owner, value, now):
                    copy[key] = now  # the library's own state: accepted
                    continue
                if restore:
                    try:
                        _TYPE_SETATTR(cls, key, value)
                    except (TypeError, AttributeError):
                        pass
                changed.append((owner, f"{where}.{key}"))
            for key in [k for k in namespace if k not in copy]:
                new = namespace[key]
                inherited = _any(key in _referents(_TYPE_DICT(base))[0] for base in cls.__mro__[1:])
                if key in _IGNORED_KEYS or not (inherited or self._guarded(owner, None, new)):
                    copy[key] = new  # set by Python itself (copyreg), or state: kept
                    continue
                if restore:
                    try:
                        _TYPE_DELATTR(cls, key)
                    except (TypeError, AttributeError):
                        pass
                changed.append((owner, f"{where}.{key}"))
            if restore and namespace.keys() == copy.keys():
                self.classes[cls] = (namespace, _dict(namespace), meta, owner)
        return changed

    def _check_functions(self, funcs, restore: bool) -> list[tuple[str, str]]:
        changed = []
        for func in funcs:
            code, defaults, kw, kwcopy, cells, contents, owner = self.funcs[func]
            what = []
            if func.__code__ is not code:
                what.append("__code__")
                if restore:
                    func.__code__ = code
            if func.__defaults__ is not defaults:
                what.append("__defaults__")
                if restore:
                    func.__defaults__ = defaults
            if func.__kwdefaults__ is not kw or \
                    (kw is not None and _container_changed(kw, kwcopy)):
                what.append("__kwdefaults__")
                if restore:
                    if kw is not None:
                        _refill(kw, kwcopy)
                    func.__kwdefaults__ = kw
            for i, (cell, value) in enumerate(zip(cells, contents, strict=True)):
                now = _contents(cell)
                if now is value:
                    continue
                if now is not _MISSING and not self._guarded(owner, value, now):
                    contents[i] = now  # state the function keeps in its closure: accepted
                    continue
                what.append("__closure__")
                if restore:
                    cell.cell_contents = value
            for item in _unique(what):
                changed.append((owner, f"{_name_of(func)}.{item}"))
        return changed


def _same(now: list, saved: list) -> bool:
    """The same objects, one by one (identity: an object cannot lie about it)."""
    return _len(now) == _len(saved) and _all(_map(_is, now, saved))


def _contents(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return _MISSING


def _container_changed(obj, copy) -> bool:
    if _type(obj) is _set:
        return _len(obj) != _len(copy) or not _all(
            _any(x is y for y in copy) for x in obj)
    return not _same(_referents(obj), _referents(copy))


def _refill(obj, copy) -> None:
    if _type(obj) is _dict or _type(obj) is _set:
        obj.clear()
        obj.update(copy)
    else:
        obj[:] = copy


def _describe_entry(module: str, key: str) -> str:
    if module == "threading" and key in ("_trace_hook", "_profile_hook"):
        return "a trace or profile function (threading.settrace/setprofile)"
    return f"{module}.{key}"


# ------------------------------------------------------------------------------ threads


def _threads() -> dict:
    """ident -> (Thread object or None, code at the bottom of its stack, top frame)."""
    out = {}
    for ident, frame in _current_frames().items():
        root = frame
        while root.f_back is not None:
            root = root.f_back
        out[ident] = (_ACTIVE.get(ident), root.f_code, frame)
    return out


def _known_threads() -> dict:
    return {ident: (thread, root) for ident, (thread, root, _) in _threads().items()}


def _idle_pool_worker(frame) -> bool:
    """A worker of a ThreadPoolExecutor waiting for work: its top frame is the original
    ``concurrent.futures.thread._worker`` (blocked on its queue, running nothing)."""
    return frame is not None and frame.f_code is _state.get("pool_worker_code")


def _idle_zmq_collector(frame) -> bool:
    """pyzmq's garbage-collector thread waiting for work (the kernel's own messaging starts
    it when it sends large messages): its top frame is the original ``run``."""
    return frame is not None and frame.f_code is _state.get("zmq_gc_code")


def _foreign_threads() -> dict:
    """Threads alive now that were not there at the last course snapshot, other than idle
    pool workers: started by the answers (or by a test that called them)."""
    known = _state.get("threads", {})
    out = {}
    for ident, (thread, root, frame) in _threads().items():
        if ident == _MAIN or _idle_pool_worker(frame) or _idle_zmq_collector(frame):
            continue
        seen = known.get(ident)
        if seen is not None and seen[0] is thread and seen[1] is root:
            continue
        out[ident] = (thread, frame)
    return out


def _describe_thread(thread, frame) -> str:
    name = f"thread '{thread.name}'" if thread is not None else "a thread started with _thread"
    if frame is None:
        return name
    return f"{name}, running {_where(frame.f_code, frame.f_globals.get('__name__'))}"


def _where(code, module) -> str:
    """``fetch() in the notebook``, ``_worker() in concurrent.futures.thread``."""
    where = "the notebook" if _in_notebook(code.co_filename) else module or "a library"
    return f"{code.co_qualname.rsplit('<locals>.', 1)[-1]}() in {where}"


def _in_notebook(filename: str) -> bool:
    prefix = _state.get("cell_prefix")
    return filename.startswith("<ipython-input-") or bool(prefix and filename.startswith(prefix))


def _stop_threads() -> tuple[list[str], dict]:
    """Stop the threads the answers left running (SystemExit raised in them, then a short
    wait). Returns (those stopped, described), {ident: description} of those still alive."""
    foreign = _foreign_threads()
    if not foreign:
        return [], {}
    described = {ident: _describe_thread(t, f) for ident, (t, f) in foreign.items()}
    try:
        import ctypes

        set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
        stop = ctypes.py_object(SystemExit)
    except (ImportError, AttributeError):
        return [], described
    deadline = _clock() + _STOP_WAIT
    rounds = 0
    while foreign:
        if rounds % 10 == 0:  # again every 50 ms: it may have caught the first one
            for ident in foreign:
                set_async_exc(ctypes.c_ulong(ident), stop)
        rounds += 1
        _sleep(0.005)
        foreign = _foreign_threads()
        if _clock() > deadline:
            break
    for ident in foreign:  # leave no exception pending in a thread that outlived the wait
        set_async_exc(ctypes.c_ulong(ident), None)
    stopped = [text for ident, text in described.items() if ident not in foreign]
    return stopped, {ident: described[ident] for ident in foreign}


def _tasks():
    """The tasks of the kernel's own event loop (the guard runs inside it)."""
    try:
        import asyncio

        return asyncio.all_tasks()
    except RuntimeError:  # no loop running here
        return _set()


def _stop_tasks() -> list[str]:
    """Cancel the tasks written in the notebook that the answers left pending on the
    kernel's event loop (one that keeps patching things, say) since the last course cell."""
    known = _state.get("tasks", ())
    stopped = []
    for task in _tasks():
        if task.done() or task in known:
            continue
        coro = task.get_coro()
        code = _getattr(coro, "cr_code", None) or _getattr(coro, "gi_code", None)
        if code is None or not _in_notebook(code.co_filename):
            continue
        task.cancel()
        stopped.append(f"task, running {_where(code, None)}")
    return stopped


def _scheduled(thread) -> str | None:
    """The kernel's scheduler statistics of a thread (Linux): they change whenever it runs."""
    native = _getattr(thread, "native_id", None)
    if native is None:
        return None
    try:
        with open(f"/proc/self/task/{native}/schedstat") as f:
            return f.read()
    except OSError:
        return None


# ---------------------------------------------------------------------- the audit hook


def _audit(event, args, _audited=_AUDITED) -> None:
    """Sees trace functions being set and protected code changed in place, in any thread."""
    if event not in _audited:  # (bound early: this runs for every audited event, to the end)
        return
    ident = _get_ident()
    if event in ("sys.settrace", "sys.setprofile"):
        if not (_state.get("quiet") and ident == _MAIN):
            _events().append((event, ident, _caller()))
        return
    target = args[0] if args else None
    if _type(target) is _types.FunctionType and target in _GUARD_FUNCS:
        raise RuntimeError("the grading guard cannot be changed")
    try:  # never make the code that set the attribute fail (a metaclass without __hash__...)
        snap = _state.get("snap")
        if snap is not None and issubclass(_type(target), (_types.FunctionType, type)) \
                and target in snap.watched and not (_state.get("quiet") and ident == _MAIN):
            _events().append((event, ident, f"{_name_of(target)}.{args[1]}"))
    except Exception:
        pass


def _events() -> list:
    events = _state.setdefault("events", [])
    if _len(events) > 10_000:  # enough to tell what happened; no more memory than that
        del events[100:-100]
        _state["mark"] = 0
    return events


def _caller() -> str:
    try:
        frame = _getframe(2)
    except ValueError:
        return "the interpreter"
    while frame is not None and frame.f_globals.get("__name__") == "threading":
        frame = frame.f_back
    if frame is None:
        return "a new thread"
    return _where(frame.f_code, frame.f_globals.get("__name__"))


# --------------------------------------------------------------------------- the shell


def _shell():
    from IPython import get_ipython

    return get_ipython()


def _shell_lists(shell) -> dict:
    tm = shell.input_transformer_manager
    return {
        "cleanup": (tm, "cleanup_transforms", _list(tm.cleanup_transforms)),
        "line": (tm, "line_transforms", _list(tm.line_transforms)),
        "token": (tm, "token_transformers", _list(tm.token_transformers)),
        "post": (shell, "input_transformers_post", _list(shell.input_transformers_post)),
        "ast": (shell, "ast_transformers", _list(shell.ast_transformers)),
    }


def _components(obj) -> list[tuple[dict, str, dict]]:
    """The shell's or kernel's parts (its tracebacks formatter, display hook, compiler...)
    and the methods set on it, in its ``__dict__`` and its trait values: (dict, copy)."""
    if obj is None:
        return []
    out = []
    for where in (vars(obj), _getattr(obj, "_trait_values", None)):
        if _type(where) is _dict:
            out.append((where, {k: v for k, v in where.items() if k not in _VOLATILE and (
                _code_like(v) or _protected(_getattr(_type(v), "__module__", ""), _MACHINERY))}))
    return out


def _shell_snapshot(shell) -> dict:
    kernel = _getattr(shell, "kernel", None)
    return {
        "components": [("IPython shell", d, copy) for d, copy in _components(shell)]
        + [("kernel", d, copy) for d, copy in _components(kernel)],
        "shell_type": _type(shell),
        "kernel_type": _type(kernel),
        "shell_lists": _shell_lists(shell),
        "shell_attrs": {k: _getattr(shell, k) for k in ("custom_exceptions", "CustomTB")},
        "settings": {k: _getattr(shell, k) for k in _SHELL_SETTINGS if hasattr(shell, k)},
        "shell_keys": _set(vars(shell)),
        "kernel_keys": _set(vars(kernel)) if kernel is not None else _set(),
        "events": {k: _list(v) for k, v in shell.events.callbacks.items()},
    }


def _restore_shell(shell, saved: dict) -> list[str]:
    changed = []
    kernel = _getattr(shell, "kernel", None)
    if _type(shell) is not saved["shell_type"]:
        shell.__class__ = saved["shell_type"]
        changed.append("IPython shell (its class)")
    if kernel is not None and _type(kernel) is not saved["kernel_type"]:
        kernel.__class__ = saved["kernel_type"]
        changed.append("kernel (its class)")
    for owner, attr, items in saved["shell_lists"].values():
        current = _getattr(owner, attr)
        if _list(current) != items:
            try:
                current[:] = items
            except TypeError:
                _setattr(owner, attr, _list(items))
            changed.append(f"IPython {attr}")
    for key, value in saved["shell_attrs"].items():
        if _getattr(shell, key) is not value:
            _setattr(shell, key, value)
            changed.append(f"IPython {key}")
    for key, value in saved["settings"].items():
        now = _getattr(shell, key)
        if now is not value and (_type(now) is not _type(value) or now != value):
            _setattr(shell, key, value)
            changed.append(f"IPython {key}")
    for who, d, copy in saved["components"]:
        for key, value in copy.items():
            if d.get(key, _MISSING) is not value:
                d[key] = value
                changed.append(f"{who}.{key}")
    for key in _set(vars(shell)) - saved["shell_keys"]:
        if _from_notebook(vars(shell)[key]):
            _delattr(shell, key)
            changed.append(f"IPython shell.{key}")
    if kernel is not None:
        for key in _set(vars(kernel)) - saved["kernel_keys"]:
            if _from_notebook(vars(kernel)[key]):
                _delattr(kernel, key)
                changed.append(f"kernel.{key}")
    for event, kept in saved["events"].items():
        # libraries register hooks of their own (matplotlib's inline backend does): only
        # hooks written in the notebook are removed, and removed ones are put back
        now = shell.events.callbacks.setdefault(event, [])
        keep = [cb for cb in now if not _from_notebook(cb)]
        keep += [cb for cb in kept if cb not in keep]
        if keep != now:
            now[:] = keep
            changed.append(f"IPython event hooks ({event})")
    return changed


# ------------------------------------------------------------------------ putting back


def _restore() -> tuple[list[str], list[str]]:
    """Put back what was snapshotted. Returns (everything put back, what of it the test
    relies on: all but the modules tests may patch themselves)."""
    snap: Snapshot | None = _state.get("snap")
    if snap is None:
        return ["the grading guard was never installed"], []
    changed: list[str] = []
    watched: list[str] = []
    # builtins first, with nothing but dict methods: the rest of the guard uses builtins
    saved_builtins = snap.saved.get("builtins", {})
    for key, value in saved_builtins.items():
        if _BUILTINS.get(key, _MISSING) is not value:
            _BUILTINS[key] = value
            changed.append(f"builtins.{key}")
    # then sys: every function of it, its hooks, streams and import machinery
    for key, value in _state["sys"].items():
        if _getattr(_sys, key, _MISSING) is not value:
            _setattr(_sys, key, value)
            changed.append(f"sys.{key}")
    for key, items in _state["sys_lists"].items():
        if _list(_getattr(_sys, key)) != items:
            _getattr(_sys, key)[:] = items
            changed.append(f"sys.{key}")
    if (_sys.gettrace(), _sys.getprofile()) != _state["trace"]:
        _sys.settrace(_state["trace"][0])
        _sys.setprofile(_state["trace"][1])
        changed.append("a trace or profile function (sys.settrace/setprofile)")
    for name, module in snap.modules.items():
        if _sys.modules.get(name) is not module:
            _sys.modules[name] = module
            changed.append(f"sys.modules[{name!r}]")
    watched += changed
    for owner, what in snap.check():
        changed.append(what)
        if snap.is_watched(owner):
            watched.append(what)
    shell = _shell()
    shell_changes = _restore_shell(shell, _state["shell"])
    changed += shell_changes
    watched += shell_changes
    ns = shell.user_ns
    for name, value in _state["course_names"].items():
        if ns.get(name) is not value:
            ns[name] = value
            changed.append(f"the course's name `{name}`")
            watched.append(f"the course's name `{name}`")
    return _unique(changed), _unique(watched)


def _unique(items: list[str]) -> list[str]:
    return _list(dict.fromkeys(items))


def _trace_events(since: int) -> list[str]:
    """Trace functions set and protected code changed in place since event ``since``."""
    out = []
    for event, ident, what in _events()[since:]:
        if event in ("sys.settrace", "sys.setprofile"):
            thread = "the main thread" if ident == _MAIN else "a thread"
            out.append(f"a trace or profile function ({event}, by {what}, in {thread})")
        else:
            out.append(f"{what} (changed in place)")
    return out


# ------------------------------------------------------------------------------ calls


def install() -> str:
    """Take the first snapshot. Returns what the sandbox around the kernel says about itself."""
    import importlib
    import os

    for name in _JUDGING_PATH:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:  # built now, as the first urlopen() would: not a change found later
        import urllib.request

        if urllib.request._opener is None:
            urllib.request.install_opener(urllib.request.build_opener())
    except Exception:
        pass
    shell = _shell()
    snap = Snapshot()
    snap.grow()
    for cls in (_type(shell), *_type(shell).__mro__[1:4]):
        snap._add_class(cls, _getattr(cls, "__module__", "IPython"))
    _state.clear()
    _state.update(
        snap=snap, tokens=_set(), events=[], mark=0, course_names={}, tainted={},
        sys={k: v for k, v in vars(_sys).items()
             if _isinstance(v, _types.BuiltinFunctionType) or k in _SYS_HOOKS},
        sys_lists={k: _list(_getattr(_sys, k)) for k in ("meta_path", "path_hooks")},
        trace=(_sys.gettrace(), _sys.getprofile()),
        shell=_shell_snapshot(shell),
        threads=_known_threads(),
        tasks=_weakref.WeakSet(_tasks()),
        pool_worker_code=_pool_worker_code(),
        zmq_gc_code=_zmq_gc_code(),
        cell_prefix=_cell_prefix(shell),
    )
    _install_audit_hook()
    return os.environ.get("GRADER_SANDBOX", "no sandbox: the kernel was not started by the "
                          "grader's launcher")


_GUARD_FUNCS: set = set()


def _install_audit_hook() -> None:
    """Once per process (an audit hook cannot be removed): see trace functions being set and
    protected code changed in place; refuse changes to the guard's own functions."""
    if _GUARD_FUNCS:
        return
    for value in _list(globals().values()) + _list(vars(Snapshot).values()):
        for func in _functions_in(value):
            if func.__module__ == __name__:
                _GUARD_FUNCS.add(func)
    _sys.addaudithook(_audit)


def _zmq_gc_code():
    """The code of pyzmq's garbage-collector thread (the kernel's own messaging starts it
    when it sends large messages; it runs nothing else)."""
    try:
        from zmq.utils.garbage import GarbageCollectorThread

        return GarbageCollectorThread.run.__code__
    except (ImportError, AttributeError):
        return None


def _pool_worker_code():
    try:
        from concurrent.futures import thread

        return thread._worker.__code__
    except (ImportError, AttributeError):
        return None


def _cell_prefix(shell) -> str | None:
    """Where the kernel says cells come from (ipykernel names them by their source)."""
    import os

    try:
        name = shell.compile.get_code_name("", "", 0)
    except Exception:
        return None
    return os.path.dirname(name) + os.sep if os.sep in name else None


def _timed(func):
    @_functools.wraps(func)
    def timed(*args):
        start, cpu = _clock(), _cpu()
        _state["quiet"] = True  # what the guard itself sets is not reported to itself
        try:
            answer = func(*args)
        except Exception as exc:  # never leave the grader without an answer it can read
            answer = {"error": f"the grading guard failed: {type(exc).__name__}: {exc}"}
        finally:
            _state["quiet"] = False
        answer["ms"] = round((_clock() - start) * 1000, 3)  # wall clock
        answer["cpu_ms"] = round((_cpu() - cpu) * 1000, 3)  # what it used of a CPU
        return _json.dumps(answer)

    return timed


@_timed
def course_cell_done() -> dict:
    """The snapshot grows by what the course's cell brought; nothing held is overwritten."""
    snap: Snapshot | None = _state.get("snap")
    if snap is None:
        return {"error": "the grading guard was never installed"}
    added = snap.grow()
    shell = _shell()
    grown = _components(shell) + _components(_getattr(shell, "kernel", None))
    for (_, _, copy), (_, now) in zip(_state["shell"]["components"], grown, strict=False):
        for key in now.keys() - copy.keys():  # parts the course's cell added, never replaced
            copy[key] = now[key]
    for name, value in shell.user_ns.items():
        if name.startswith("_") or not _is_code(value) or name in _state["course_names"]:
            continue
        module = value.__name__ if _isinstance(value, _types.ModuleType) else \
            _getattr(value, "__module__", None) or ""
        if _protected(module):
            _state["course_names"][name] = value
    _state["threads"] = _known_threads()
    _state["tasks"] = _weakref.WeakSet(_tasks())
    _state["mark"] = _len(_events())
    return {"modules": added}


def _tainted() -> dict:
    """Threads still alive in which the answers set a trace or profile function (they cannot
    be reset from outside): ident -> description."""
    tainted = _state["tainted"]
    for event, ident, what in _events()[_state["mark"]:]:
        if event in ("sys.settrace", "sys.setprofile") and ident != _MAIN:
            tainted[ident] = (f"{_describe_thread(_ACTIVE.get(ident), None)}, in which {what} "
                              "set a trace or profile function")
    alive = _current_frames()
    for ident in [i for i in tainted if i not in alive]:
        del tainted[ident]
    return tainted


@_timed
def before_test() -> dict:
    """Put everything back, reset trace functions, stop the threads the answers left."""
    changed, _ = _restore()
    stopped, alive = _stop_threads()
    if stopped or alive:  # what they changed until they stopped
        changed += _restore()[0]
    stopped += _stop_tasks()
    alive.update(_tainted())
    _state["alive_before"] = {ident: _scheduled(_ACTIVE.get(ident)) for ident in alive}
    _state["mark"] = _len(_events())
    return {"restored": _unique(changed), "stopped": stopped, "alive": _list(alive.values())}


def ping() -> str:
    """Is the kernel answering? (Nothing else: the snapshot is not touched.)"""
    return "ok"


def passed(token: str) -> None:
    _state.setdefault("tokens", _set()).add(token)


@_timed
def after_test(token: str) -> dict:
    """Did the test run to its end untouched? Then put everything back for the next cell."""
    ran = token in _state.get("tokens", _set())
    during = _trace_events(_state["mark"])
    _, watched = _restore()
    stopped, alive = _stop_threads()
    if stopped or alive:  # what they changed until they stopped
        watched += _restore()[1]
    stopped += _stop_tasks()
    alive.update(_tainted())
    # a thread that could not be stopped before the test and did not run at all while it
    # ran (blocked in a long sleep, say) could not have changed anything
    before = _state.get("alive_before", {})
    still = [text for ident, text in alive.items()
             if before.get(ident) is None or before[ident] != _scheduled(_ACTIVE.get(ident))]
    _state["mark"] = _len(_events())
    return {"passed": ran, "changed": _unique(during + watched), "stopped": stopped,
            "alive": still}


# the user_expressions the grader sends (kept here so both sides agree)
def expression(call: str) -> str:
    return f"__import__('grader.kernel_guard', fromlist=['_']).{call}"
