"""The grader's agent inside a student's kernel (imported by the kernel, never by students).

The grader (:mod:`grader.preprocessors`) calls it through ``user_expressions`` of silent
execute requests, a path that IPython's input transformers and event hooks do not touch:

- :func:`install` when the kernel starts, before any notebook cell: it snapshots what the
  tests rely on (IPython's transformers, exception handlers and hooks, ``sys`` hooks, the
  builtins, and the functions and classes of ``time``, ``asyncio``, ``looptime``,
  ``asynclab``...);
- :func:`course_cell_done` after each cell the course wrote: it remembers the names that
  cell bound to a protected module or function (``run_virtual``, ``asyncio``...);
- :func:`before_test` just before a test cell: it puts everything back as snapshotted and
  says what it had to restore (tampering done by an answer cell);
- the test cell itself ends with a call to :func:`passed` with a fresh random token, so a
  test counts only if it ran to its last line (fail-closed);
- :func:`after_test` right after the test cell: did it reach its last line, and did
  anything protected change while it ran (tampering done by the answer while the test
  called it)? Then it restores again.

This raises the bar; it is not a sandbox: code in the same process can always reach the
guard. The grader therefore also flags answers that reach for the machinery (see
:mod:`grader.integrity`).
"""

from __future__ import annotations

import json as _json
import sys as _sys
import types as _types

_PROTECTED_PREFIXES = ("time", "asyncio", "looptime", "asynclab", "builtins", "inspect",
                       "aiofiles", "aiohttp", "threading", "contextvars", "functools",
                       "grader.kernel_guard")
# What the answer must not change while a test runs (a smaller set: tests themselves may
# patch aiofiles or aiohttp for a moment, and restore them).
_WATCHED_DURING_TEST = ("time", "asyncio", "looptime", "asynclab", "builtins", "inspect",
                        "threading", "grader.kernel_guard")

_state: dict = {}


def _is_code(value) -> bool:
    return isinstance(value, (_types.FunctionType, _types.BuiltinFunctionType, type,
                              _types.ModuleType, _types.MethodType, staticmethod,
                              classmethod, property, _types.MethodDescriptorType,
                              _types.WrapperDescriptorType))


def _from_notebook(value) -> bool:
    """Written in the notebook (a function or lambda of the user's namespace)?"""
    func = getattr(value, "__func__", value)
    return callable(value) and getattr(func, "__module__", None) in ("__main__", None)


def _protected(name: str, prefixes=_PROTECTED_PREFIXES) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _snapshot_namespace(ns) -> dict:
    return {k: v for k, v in ns.items() if _is_code(v)}


def _modules() -> dict:
    return {name: mod for name, mod in list(_sys.modules.items())
            if isinstance(mod, _types.ModuleType) and _protected(name)}


def _classes_of(mod) -> list:
    out = []
    for value in list(vars(mod).values()):
        if isinstance(value, type) and getattr(value, "__module__", None) == mod.__name__:
            out.append(value)
    return out


def _shell():
    from IPython import get_ipython

    return get_ipython()


def install() -> str:
    """Take the snapshot. Returns what the sandbox around the kernel says about itself."""
    import os

    shell = _shell()
    mods = _modules()
    snap = {
        "modules": mods,
        "module_dicts": {name: _snapshot_namespace(vars(m)) for name, m in mods.items()},
        "classes": {},
        "shell_lists": _shell_lists(shell),
        "shell_attrs": {k: getattr(shell, k) for k in ("custom_exceptions", "CustomTB")},
        "shell_keys": set(vars(shell)),
        "kernel_keys": set(vars(shell.kernel)) if getattr(shell, "kernel", None) else set(),
        "events": {k: list(v) for k, v in shell.events.callbacks.items()},
        "sys": {k: getattr(_sys, k) for k in ("excepthook", "displayhook", "stdout", "stderr",
                                              "modules", "meta_path", "path_hooks")},
        "sys_lists": {k: list(getattr(_sys, k)) for k in ("meta_path", "path_hooks")},
        "trace": (_sys.gettrace(), _sys.getprofile()),
        "course_names": {},
    }
    for cls in (type(shell), *type(shell).__mro__[1:4]):
        snap["classes"][cls] = _snapshot_namespace(dict(vars(cls)))
    if getattr(shell, "kernel", None) is not None:
        for cls in type(shell.kernel).__mro__[:3]:
            snap["classes"][cls] = _snapshot_namespace(dict(vars(cls)))
    for mod in mods.values():
        for cls in _classes_of(mod):
            snap["classes"][cls] = _snapshot_namespace(dict(vars(cls)))
    _state.clear()
    _state.update(snap=snap, tokens=set())
    return os.environ.get("GRADER_SANDBOX", "no sandbox: the kernel was not started by the "
                          "grader's launcher")


def _shell_lists(shell) -> dict:
    tm = shell.input_transformer_manager
    return {
        "cleanup": (tm, "cleanup_transforms", list(tm.cleanup_transforms)),
        "line": (tm, "line_transforms", list(tm.line_transforms)),
        "token": (tm, "token_transformers", list(tm.token_transformers)),
        "post": (shell, "input_transformers_post", list(shell.input_transformers_post)),
        "ast": (shell, "ast_transformers", list(shell.ast_transformers)),
    }


def _restore(watched=_PROTECTED_PREFIXES) -> list[str]:
    """Put back what was snapshotted; return a description of each thing put back."""
    snap = _state.get("snap")
    if snap is None:
        return ["the grading guard was never installed"]
    changed: list[str] = []
    shell = _shell()
    # sys hooks first: everything else may rely on them
    for key, value in snap["sys"].items():
        if getattr(_sys, key) is not value:
            setattr(_sys, key, value)
            changed.append(f"sys.{key}")
    for key, items in snap["sys_lists"].items():
        if list(getattr(_sys, key)) != items:
            getattr(_sys, key)[:] = items
            changed.append(f"sys.{key}")
    if (_sys.gettrace(), _sys.getprofile()) != snap["trace"]:
        _sys.settrace(snap["trace"][0])
        _sys.setprofile(snap["trace"][1])
        changed.append("a trace or profile function (sys.settrace/setprofile)")
    for name, mod in snap["modules"].items():
        if not _protected(name, watched):
            continue
        if _sys.modules.get(name) is not mod:
            _sys.modules[name] = mod
            changed.append(f"sys.modules[{name!r}]")
        now = vars(mod)
        for attr, value in snap["module_dicts"][name].items():
            if now.get(attr) is not value:
                now[attr] = value
                changed.append(f"{name}.{attr}")
    for cls, saved in snap["classes"].items():
        module = getattr(cls, "__module__", "") or ""
        if module in snap["modules"] and not _protected(module, watched):
            continue
        now = vars(cls)
        for attr, value in saved.items():
            if now.get(attr) is not value:
                try:
                    setattr(cls, attr, value)
                    changed.append(f"{cls.__name__}.{attr}")
                except (TypeError, AttributeError):
                    pass
        for attr in [a for a, v in now.items() if a not in saved and _is_code(v)]:
            try:
                delattr(cls, attr)
                changed.append(f"{cls.__name__}.{attr}")
            except (TypeError, AttributeError):
                pass
    for owner, attr, items in snap["shell_lists"].values():
        current = getattr(owner, attr)
        if list(current) != items:
            try:
                current[:] = items
            except TypeError:
                setattr(owner, attr, list(items))
            changed.append(f"IPython {attr}")
    for key, value in snap["shell_attrs"].items():
        if getattr(shell, key) is not value:
            setattr(shell, key, value)
            changed.append(f"IPython {key}")
    for key in set(vars(shell)) - snap["shell_keys"]:
        if _from_notebook(vars(shell)[key]):
            delattr(shell, key)
            changed.append(f"IPython shell.{key}")
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        for key in set(vars(kernel)) - snap["kernel_keys"]:
            if _from_notebook(vars(kernel)[key]):
                delattr(kernel, key)
                changed.append(f"kernel.{key}")
    for event, saved in snap["events"].items():
        # libraries register hooks of their own (matplotlib's inline backend does): only
        # hooks written in the notebook are removed, and removed ones are put back
        now = shell.events.callbacks.setdefault(event, [])
        keep = [cb for cb in now if not _from_notebook(cb)]
        keep += [cb for cb in saved if cb not in keep]
        if keep != now:
            now[:] = keep
            changed.append(f"IPython event hooks ({event})")
    ns = shell.user_ns
    for name, value in snap["course_names"].items():
        if ns.get(name) is not value:
            ns[name] = value
            changed.append(f"the course's name `{name}`")
    return changed


def course_cell_done() -> str:
    """Remember the names the course's cells bound to protected modules and functions."""
    snap = _state.get("snap")
    if snap is None:
        return "not installed"
    for name, value in _shell().user_ns.items():
        if name.startswith("_") or not _is_code(value):
            continue
        module = value.__name__ if isinstance(value, _types.ModuleType) else \
            getattr(value, "__module__", None) or ""
        if _protected(module):
            snap["course_names"][name] = value
    return "ok"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def before_test() -> str:
    return _json.dumps({"restored": _unique(_restore())})


def passed(token: str) -> None:
    _state.setdefault("tokens", set()).add(token)


def after_test(token: str) -> str:
    ran = token in _state.get("tokens", set())
    during = _unique(_restore(_WATCHED_DURING_TEST))
    _restore()  # and the rest, quietly: the next cell starts clean
    return _json.dumps({"passed": ran, "changed": during})


# the user_expressions the grader sends (kept here so both sides agree)
def expression(call: str) -> str:
    return f"__import__('grader.kernel_guard', fromlist=['_']).{call}"

