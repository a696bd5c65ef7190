"""The class in numbers: the grades CSV and an HTML report.

``export_csv`` writes nbgrader's grades CSV (the columns of ``nbgrader export``) with one
more column, ``reason``: one row per student and assignment, for every student the class
knows (roster, submissions, records, files refused at collect; see :mod:`grader.standing`),
so a student whose file was refused or could not be graded has a row with 0 and why. Only
assignments with something submitted are listed unless ``include_all``. An export plugin
set in nbgrader_config.py (``c.ExportApp.plugin_class``) is used instead, as nbgrader would.
``by_test`` adds a long table with one row per test cell, for a per-exercise view in a
spreadsheet.

``build`` writes ``grading/report/index.html``: a single self-contained page (the score
histograms are embedded, and also saved beside it as PNG files) with, per assignment,
the score distribution, the pass rate of every exercise and the most common reasons its
checks failed; then the slowest submissions, those that could not be graded and those
flagged for a look. Grades come from the gradebook (so manual grades in the formgrader
count); times, failures and flags come from the grading records.
"""

from __future__ import annotations

import base64
import csv
import html
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import course, gradebook, nbgrader_app, records, standing
from .escape import printable

REPORT_DIR = Path("grading") / "report"


# -- export ---------------------------------------------------------------------------


def export_csv(root: Path, dest: Path, by_test: Path | None = None,
               include_all: bool = False) -> list[Path]:
    """The grades CSV at ``dest`` (and the per-test table at ``by_test``)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    root = Path(root).resolve()
    nbg = nbgrader_app.load(root)
    cls = nbg.app.config.get("ExportApp", {}).get("plugin_class") or CsvExportPlugin
    if isinstance(cls, str):
        import importlib

        module, name = cls.rsplit(".", 1)
        cls = getattr(importlib.import_module(module), name)
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    if cls is CsvExportPlugin:
        rows = standing.csv_rows(standing.load(root, include_all))
        tmp = Path(dest).with_name(Path(dest).name + ".tmp")
        with open(tmp, "w", newline="") as fh:
            out = csv.DictWriter(fh, standing.CSV_FIELDS)
            out.writeheader()
            out.writerows(rows)
        tmp.replace(dest)
    else:
        plugin = cls(parent=nbg.app)
        plugin.to = str(dest)
        with Gradebook(gradebook.with_busy_timeout(nbg.db_url), nbg.course_id) as gb:
            plugin.export(gb)
    written = [Path(dest)]
    if by_test:
        rows = gradebook.scores(nbg.db_url, nbg.course_id)
        Path(by_test).parent.mkdir(parents=True, exist_ok=True)
        with open(by_test, "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["assignment", "student_id", "notebook", "test", "score", "max_score",
                          "auto_score", "manual_score", "needs_manual_grade"])
            for (assignment, student), cells in sorted(rows.items()):
                for gid, g in cells.items():
                    out.writerow([assignment, student, g["notebook"], gid, g["score"],
                                  g["max_score"], g["auto_score"], g["manual_score"],
                                  g["needs_manual_grade"]])
        written.append(Path(by_test))
    return written


# -- the class report -----------------------------------------------------------------


@dataclass
class AssignmentStats:
    name: str
    max_score: float
    students: int
    scores: dict[str, float] = field(default_factory=dict)  # graded submissions only
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    exercises: list[dict] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # every file refused at collect
    pending: list[str] = field(default_factory=list)  # submitted, not graded yet
    reasons: dict[str, str] = field(default_factory=dict)  # student -> why (CSV's reason)


def _exercise_map(root: Path, assignment: str, grade_ids: list[str]) -> list[tuple[str, list[str]]]:
    """[(exercise, [test cell ids])]: test cells grouped under the answer cell above them."""
    groups: list[tuple[str, list[str]]] = []
    placed: set[str] = set()
    for path in sorted((Path(root) / course.SOURCE / assignment).glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:
            continue
        for answer, tests in course.exercises(nb).items():
            ids = [gid for gid, _ in tests if gid in grade_ids]
            if ids:
                groups.append((answer, ids))
                placed.update(ids)
    groups += [(gid, [gid]) for gid in grade_ids if gid not in placed]
    return groups


def collect_stats(root: Path, include_all: bool = False
                  ) -> tuple[list[AssignmentStats], list[records.Result]]:
    from nbgrader.api import Gradebook

    nbg = nbgrader_app.load(root)
    recs = records.load_all(root)
    cls = standing.load(root, include_all)
    cells = gradebook.scores(nbg.db_url, nbg.course_id)
    stats = []
    with Gradebook(gradebook.with_busy_timeout(nbg.db_url), nbg.course_id) as gb:
        db = {a.name: a for a in gb.assignments}
        for a in cls.assignments:
            nbs = db[a.name].notebooks if a.name in db else []
            grade_ids = [c.name for nb in nbs for c in nb.grade_cells]
            points = {c.name: c.max_score for nb in nbs for c in nb.grade_cells}
            st = AssignmentStats(a.name, a.max_score, len(cls.students))
            for one in cls.of(a.name):
                st.reasons[one.student] = one.reason
                if one.state == standing.GRADED:  # late penalty included, as in the CSV
                    st.scores[one.student] = one.score
                else:
                    {standing.FAILED: st.failed, standing.MISSING: st.missing,
                     standing.REFUSED: st.refused, standing.PENDING: st.pending
                     }[one.state].append(one.student)
            messages: dict[str, Counter] = {gid: Counter() for gid in grade_ids}
            for rec in recs:
                if rec.assignment == a.name and rec.student in st.scores:
                    for t in rec.tests:
                        if t.message and t.grade_id in messages:
                            messages[t.grade_id][t.message] += 1
            for exercise, ids in _exercise_map(root, a.name, grade_ids):
                passed = [s for s in st.scores
                          if all((cells[(a.name, s)].get(g, {}).get("score") or 0) >= points[g]
                                 for g in ids)]
                mean = (statistics.mean(sum(cells[(a.name, s)].get(g, {}).get("score") or 0
                                            for g in ids) for s in st.scores)
                        if st.scores else 0.0)
                common = Counter()
                for g in ids:
                    common.update(messages.get(g, {}))
                st.exercises.append({
                    "exercise": exercise, "tests": ids,
                    "points": sum(points[g] for g in ids),
                    "passed": len(passed), "graded": len(st.scores),
                    "rate": len(passed) / len(st.scores) if st.scores else 0.0,
                    "mean": mean, "messages": common.most_common(3),
                })
            stats.append(st)
    return stats, recs


def histogram(st: AssignmentStats, dest: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.8), dpi=100)
    values = list(st.scores.values())
    top = max(st.max_score, max(values, default=0), 1)
    if top <= 40:  # one bar per point, centred on it
        bins = [b - 0.5 for b in range(int(top) + 2)]
    else:
        bins = [top * i / 20 for i in range(21)]
    ax.hist(values, bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlim(bins[0], bins[-1])
    ax.set_xlabel(f"score (out of {st.max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{st.name}: {len(values)} graded submission(s)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(dest)
    plt.close(fig)
    return dest


CSS = """
body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}.num{text-align:right}
.bar{background:#e8e8e8;width:8em;height:.8em;display:inline-block}.bar span{background:#4c72b0;
height:100%;display:block}.low{color:#b00}small{color:#666}img{max-width:100%}
"""


def _table(head: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{c}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def _guard_seconds(rec: records.Result) -> str:
    """What the grading guard cost a submission: seconds, and its calls in the kernel."""
    costs = [c for c in rec.guard.values() if isinstance(c, dict) and c.get("calls")]
    if not costs:
        return "-"
    calls = sum(c["calls"] for c in costs)
    mean = sum(c.get("kernel_ms_mean", 0) * c["calls"] for c in costs) / calls
    return (f"{sum(c.get('seconds', 0) for c in costs):.2f}<br><small>{calls} calls, "
            f"{mean:.1f} ms each</small>")


def build(root: Path, dest: Path | None = None, slowest: int = 10,
          include_all: bool = False) -> Path:
    """Write the class report; returns the path of its HTML page."""
    root = Path(root).resolve()
    dest = Path(dest) if dest else root / REPORT_DIR
    dest.mkdir(parents=True, exist_ok=True)
    stats, recs = collect_stats(root, include_all)

    def e(text) -> str:  # names, failures and flags come from submissions
        return html.escape(printable(text))

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Class report</title>"
             f"<style>{CSS}</style></head><body>",
             "<h1>Class report</h1>",
             f"<p><small>Generated {time.strftime('%Y-%m-%d %H:%M')} from {e(str(root))} "
             f"(grades from the gradebook; times, failures and flags from the grading "
             f"records).</small></p>"]
    unsandboxed = [r for r in recs if r.sandbox and r.sandbox != "sandboxed"]
    if unsandboxed:
        kinds = sorted({r.sandbox for r in unsandboxed})
        parts.append(f"<p class='warn'><b>{len(unsandboxed)} submission(s) were graded "
                     f"without the full sandbox:</b> {e('; '.join(kinds))}</p>")
    rows = []
    for st in stats:
        values = list(st.scores.values())
        full = sum(v >= st.max_score for v in values)
        rows.append([e(st.name), str(len(values)), str(len(st.failed)), str(len(st.refused)),
                     str(len(st.pending)), str(len(st.missing)),
                     f"{statistics.mean(values):.1f}" if values else "-",
                     f"{statistics.median(values):.1f}" if values else "-",
                     f"{st.max_score:g}",
                     f"{100 * full / len(values):.0f}%" if values else "-"])
    parts += ["<h2>Assignments</h2>",
              _table(["assignment", "graded", "could not be graded", "refused at collect",
                      "not graded yet", "not submitted", "mean", "median", "max", "full marks"],
                     rows)]
    for st in stats:
        parts.append(f"<h2 id='{e(st.name)}'>{e(st.name)}</h2>")
        if st.scores:
            png = histogram(st, dest / f"scores_{st.name}.png")
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f"<img alt='score histogram of {e(st.name)}' "
                         f"src='data:image/png;base64,{data}'>")
        ex_rows = []
        for ex in st.exercises:
            rate = ex["rate"]
            msgs = "<br>".join(f"{n}&times; {e(m)}" for m, n in ex["messages"]) or ""
            cls = " class='low'" if ex["graded"] and rate < 0.5 else ""
            ex_rows.append([
                f"{e(ex['exercise'])}<br><small>{e(', '.join(ex['tests']))}</small>",
                f"{ex['points']:g}",
                f"<span{cls}>{100 * rate:.0f}%</span> <span class='bar'><span "
                f"style='width:{100 * rate:.0f}%'></span></span><br><small>{ex['passed']} of "
                f"{ex['graded']}</small>",
                f"{ex['mean']:.1f}", f"<small>{msgs}</small>"])
        parts.append(_table(["exercise (tests)", "points", "pass rate", "mean points",
                             "most common reasons for losing points"], ex_rows))
        if st.missing:
            parts.append(f"<p>Not submitted ({len(st.missing)}): "
                         f"{e(', '.join(st.missing))}</p>")
        # every student once: those who need a look first, then by score
        order = ([(s, "could not be graded") for s in st.failed]
                 + [(s, "refused at collect") for s in st.refused]
                 + [(s, "not graded yet") for s in st.pending]
                 + [(s, "graded") for s in sorted(st.scores, key=lambda s: (st.scores[s], s))]
                 + [(s, "not submitted") for s in st.missing])
        who = "".join(
            f"<tr><td>{e(s)}</td><td>{state}</td><td class='num'>"
            f"{f'{st.scores[s]:g}' if s in st.scores else '-'}</td>"
            f"<td>{e(st.reasons.get(s, ''))}</td></tr>" for s, state in order)
        parts.append(f"<details><summary>Students ({len(order)})</summary>"
                     f"<table id='students-{e(st.name)}'><tr><th>student</th><th>state</th>"
                     f"<th>score</th><th>reason</th></tr>{who}</table></details>")
    timed = sorted((r for r in recs if r.status == records.GRADED), key=lambda r: -r.seconds)
    parts.append("<h2>Slowest submissions</h2>")
    parts.append(_table(
        ["student", "assignment", "seconds", "of which running cells",
         "of which the grading guard", "score"],
        [[e(r.student), e(r.assignment), f"{r.seconds:.1f}", f"{r.execute_seconds:.1f}",
          _guard_seconds(r),
          f"{r.score:g} / {r.max_score:g}" if r.score is not None and r.max_score else "-"]
         for r in timed[:slowest]]) if timed else "<p>No graded submission.</p>")
    failed = [(st.name, s, st.reasons[s]) for st in stats for s in st.failed]
    parts.append(f"<h2>Could not be graded ({len(failed)})</h2>")
    parts.append(_table(["student", "assignment", "why"],
                        [[e(s), e(a), e(why)] for a, s, why in failed])
                 if failed else "<p>None.</p>")
    refused = [(st.name, s, st.reasons[s]) for st in stats for s in st.refused]
    parts.append(f"<h2>Refused at collect ({len(refused)})</h2>")
    parts.append(_table(["student", "assignment", "files and why"],
                        [[e(s), e(a), e(why)] for a, s, why in refused])
                 if refused else "<p>None.</p>")
    flagged = [r for r in recs if r.flags]
    parts.append(f"<h2>Flagged for a look ({len(flagged)})</h2>")
    parts.append(_table(["student", "assignment", "what"],
                        [[e(r.student), e(r.assignment), "<br>".join(e(f) for f in r.flags)]
                         for r in flagged]) if flagged else "<p>None.</p>")
    parts.append("</body></html>")
    page = dest / "index.html"
    page.write_text("\n".join(parts))
    return page
