"""Instructor commands for the course: release, roster, collect, autograde, feedback, export,
report.

Every command works on nbgrader's own folders and gradebook (see nbgrader_config.py), so
plain nbgrader commands and the formgrader keep working beside them:

  grading/submitted/<student>/<assignment>/   what students handed in (collect fills it)
  grading/autograded/<student>/<assignment>/  the graded notebooks (autograde)
  grading/feedback/<student>/<assignment>/    one HTML page per student (feedback)
  grading/gradebook.db                        every grade (nbgrader's database)
  grading/records/                            how each submission went: time, failures, flags
  grading/report/                             the class report (report)

A typical round:  roster -> release -> (students work) -> collect -> autograde -> feedback -> export
-> report. Exit codes: 0 all went well, 1 something failed (listed), 2 the command cannot
run as asked, 130 interrupted (Ctrl-C; run the same command again to continue).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from . import (
    _startup,  # noqa: F401  (first: it makes the imports below cheaper)
    course,
    pool,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def say(line, file=None) -> None:
    """Print one line; names and messages may come from submissions, so control
    characters (ANSI sequences, bidi overrides) are shown as escapes, not obeyed."""
    from .escape import printable

    print(printable(line), file=file or sys.stdout)


def course_root(args) -> Path:
    root = Path(args.course).resolve() if args.course else course.ROOT
    if not (root / "nbgrader_config.py").is_file():
        raise UsageError(f"{root} is not a course folder (it has no nbgrader_config.py); "
                         f"pass --course FOLDER")
    return root


class UsageError(Exception):
    pass


def cmd_release(args) -> int:
    from .release import release

    root = course_root(args)
    try:
        paths = release(root, args.assignments or None)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except RuntimeError as exc:
        say(f"release failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for p in paths:
        say(f"released {p.relative_to(root)}")
    return EXIT_OK


def cmd_autograde(args) -> int:
    root = course_root(args)
    target = None
    if args.scheduler and args.cluster:
        raise UsageError("--scheduler and --cluster exclude each other")
    if args.scheduler or args.cluster:
        if importlib.util.find_spec("distributed") is None:
            raise UsageError("grading on a Dask cluster needs dask[distributed]: "
                             "pip install '.[cluster]'")
        from .cluster import Target

        target = Target(scheduler=args.scheduler,
                        local_workers=(args.jobs or pool.default_jobs()) if args.cluster else None)
    else:
        from .pool import warm_up

        warm_up()  # the workers' imports start now, beside this process's own
    from .autograde import Autograder, SetupError

    overrides = {"Execute": {"timeout": args.timeout}} if args.timeout else {}
    if args.no_sandbox:
        overrides["SandboxedKernelManager"] = {"sandbox": False}
    progress = True if args.progress else (False if args.no_progress else None)
    try:
        grader = Autograder(root, jobs=args.jobs, force=args.force, overrides=overrides or None,
                            progress=progress, cluster=target)
        summary = grader.run(args.assignments or None, args.student or None)
    except SetupError as exc:
        raise UsageError(str(exc)) from exc
    for line in summary.lines():
        say(line)
    if args.timing:
        say(summary.timing())
    return summary.exit_code


def cmd_collect(args) -> int:
    from .collect import collect

    root = course_root(args)
    try:
        report = collect(root, args.assignment, Path(args.source), pattern=args.pattern,
                         force=args.force)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    for line in report.lines():
        say(line)
    return report.exit_code


def cmd_feedback(args) -> int:
    from .feedback import generate

    root = course_root(args)
    report = generate(root, args.assignments or None, args.student or None,
                      with_hidden_tests=args.with_hidden_tests, force=args.force, jobs=args.jobs)
    for line in report.lines():
        say(line)
    if report.written:
        say(f"Pages are in {root / 'grading' / 'feedback'}/<student>/<assignment>/")
    return report.exit_code


def cmd_export(args) -> int:
    from .report import export_csv

    root = course_root(args)
    dest = Path(args.to) if args.to else root / "grading" / "grades.csv"
    for path in export_csv(root, dest, Path(args.by_test) if args.by_test else None,
                           include_all=args.all):
        say(f"wrote {path}")
    return EXIT_OK


def cmd_roster(args) -> int:
    from .roster import import_roster

    root = course_root(args)
    try:
        report = import_roster(root, Path(args.csv))
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    for line in report.lines():
        say(line)
    return report.exit_code


def cmd_report(args) -> int:
    from .report import build

    root = course_root(args)
    page = build(root, Path(args.to) if args.to else None, include_all=args.all)
    say(f"wrote {page}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course", metavar="FOLDER",
                        help="the course folder (default: this repository)")
    parser = argparse.ArgumentParser(
        prog="python -m grader", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rel = sub.add_parser("release", parents=[common],
                         help="regenerate notebooks/ from solutions/ (one assignment or all)",
                         description="Regenerate the student notebooks in notebooks/ from "
                         "solutions/ with nbgrader generate_assignment, and record the "
                         "assignment in the gradebook.")
    rel.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                     help="assignment ids such as 01_coroutines (default: all)")
    rel.set_defaults(func=cmd_release)

    ag = sub.add_parser(
        "autograde", parents=[common], help="grade submissions in parallel",
        description="Run every submitted notebook in its own fresh kernel, several at once, "
        "and save the grades in nbgrader's gradebook. The grades are those plain `nbgrader "
        "autograde` gives. Submissions graded before and unchanged since are skipped (so an "
        "interrupted run continues where it stopped); --force grades them again.")
    ag.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                    help="assignment ids (default: every assignment with submissions)")
    ag.add_argument("--student", action="append", metavar="ID",
                    help="grade only this student (repeat for several)")
    ag.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                    help="notebooks run at once (default: two per core, as memory allows: "
                    f"{pool.default_jobs()} here; a notebook of this course waits about half of "
                    "its time)")
    ag.add_argument("--force", action="store_true",
                    help="grade again submissions that were already graded")
    ag.add_argument("--timeout", type=int, metavar="SECONDS",
                    help="stop a cell that runs longer (default: nbgrader_config.py's)")
    ag.add_argument("--progress", action="store_true",
                    help="always show the progress bar (default: only on a terminal)")
    ag.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    ag.add_argument("--timing", action="store_true", help="say where the time went")
    ag.add_argument("--no-sandbox", action="store_true",
                    help="run kernels without bubblewrap (where it cannot run): the students' "
                         "code can then read and reach all the grader can; records and the "
                         "report say so")
    ag.add_argument("--scheduler", metavar="ADDRESS",
                    help="grade on the workers of this running Dask scheduler, e.g. "
                    "tcp://10.0.0.5:8786 (needs dask[distributed]; see the README)")
    ag.add_argument("--cluster", choices=["local"],
                    help="grade on a Dask LocalCluster of --jobs worker processes here")
    ag.set_defaults(func=cmd_autograde)

    co = sub.add_parser(
        "collect", parents=[common], help="bring in submissions from a folder or an LMS zip",
        description="Copy one assignment's submissions into grading/submitted/<student>/"
        "<assignment>/. SOURCE is a folder in nbgrader's layout (<student>/<assignment>/"
        "<notebook>.ipynb), or an LMS download: a zip file or a folder of files named "
        "<student>_<notebook>.ipynb (or matching --pattern, or the FileNameCollectorPlugin."
        "named_regexp of nbgrader_config.py). Files that cannot be collected are listed with "
        "the reason. A submission already graded is not replaced unless --force (the old copy "
        "is kept in grading/replaced/).")
    co.add_argument("assignment", metavar="ASSIGNMENT", help="assignment id, e.g. 01_coroutines")
    co.add_argument("source", metavar="SOURCE", help="a folder or a .zip file")
    co.add_argument("--pattern", metavar="REGEXP",
                    help="regular expression for LMS file names, with (?P<student_id>...) and "
                    "(?P<file_id>...) groups, optionally (?P<timestamp>...)")
    co.add_argument("--force", action="store_true",
                    help="replace submissions that were already graded (autograde regrades them)")
    co.set_defaults(func=cmd_collect)

    fb = sub.add_parser(
        "feedback", parents=[common], help="write one HTML feedback page per student",
        description="Write grading/feedback/<student>/<assignment>/<notebook>.html for every "
        "graded submission: the student's notebook with its outputs, a table of checks with "
        "why each failed, and the scores. Hidden tests are left out (their code, not their "
        "failure messages) unless --with-hidden-tests. Pages newer than the graded notebook "
        "are kept unless --force.")
    fb.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                    help="assignment ids (default: all graded)")
    fb.add_argument("--student", action="append", metavar="ID", help="only this student (repeat)")
    fb.add_argument("--with-hidden-tests", action="store_true",
                    help="show the hidden tests' code too, as nbgrader's own feedback does")
    fb.add_argument("--force", action="store_true", help="rewrite pages that are up to date")
    fb.add_argument("-j", "--jobs", type=int, metavar="N", help="pages written at once")
    fb.set_defaults(func=cmd_feedback)

    ex = sub.add_parser(
        "export", parents=[common], help="write the grades CSV",
        description="Write the grades as nbgrader export does (one row per student and "
        "assignment: raw score, late penalty, score, max score), with a reason column: "
        "every student with anything collected, refused or on the roster has a row, with 0 "
        "and why (not submitted, refused at collect, could not be graded, late...). Only "
        "assignments with submissions unless --all.")
    ex.add_argument("--to", metavar="FILE", help="where (default: grading/grades.csv)")
    ex.add_argument("--by-test", metavar="FILE",
                    help="also write one row per student and test cell to FILE")
    ex.add_argument("--all", action="store_true",
                    help="also list assignments nobody has submitted yet")
    ex.set_defaults(func=cmd_export)

    rp = sub.add_parser(
        "report", parents=[common], help="write the class report (HTML)",
        description="Write grading/report/index.html: per assignment the score histogram, the "
        "pass rate of every exercise and why checks failed most often; the slowest "
        "submissions, those that could not be graded and those flagged for a look.")
    rp.add_argument("--to", metavar="FOLDER", help="where (default: grading/report/)")
    rp.add_argument("--all", action="store_true",
                    help="also show assignments nobody has submitted yet")
    rp.set_defaults(func=cmd_report)

    ro = sub.add_parser(
        "roster", parents=[common], help="import the class list (ids, names, emails)",
        description="Add or update students in nbgrader's gradebook from a CSV with a header: "
        "id (or student_id), and any of first_name, last_name, email, or name. Students on "
        "the roster appear in the grades CSV and the report even before they submit.")
    ro.add_argument("csv", metavar="CSV", help="the roster file")
    ro.set_defaults(func=cmd_roster)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        say(f"python -m grader {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
