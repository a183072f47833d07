"""`starloom run`: Ploomber's build of the project's pipeline, in this process, without noise.

The build is `ploomber build`'s own (the same DAG, the same options: `--force`,
`--partially TASK`, `--env--run_date 2024-01-03`, ...), with the messages that say nothing
about the project left out:

- the warning that env.yaml holds settings the pipeline does not use, when they are the
  settings starloom itself reads (`warehouse`, `project_name`, ...);
- the warning that a notebook does not use some of its parameters, when they are the ones
  every step gets (`upstream`, `product`, `run_date`, `stamp`, `resources_`: Ploomber
  tracks `resources_` files, the notebooks read their data from the warehouse);
- the progress bars of each notebook's cells, and the kernels' own log lines (see
  `starloom.pipeline.on_render`).

Any other warning, from Ploomber or from the project's code, is shown as before. The task
progress bar shows on a terminal only. After the build comes the run's summary
(starloom.run_summary) instead of Ploomber's table.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Settings starloom reads from env.yaml, which a pipeline need not use as placeholders.
STARLOOM_SETTINGS = (
    "warehouse", "dask_scheduler", "project_name", "run_date",
    "demo_start_date", "demo_size", "demo_seed",
)  # fmt: skip
# Parameters every step of a starloom pipeline may get without using them in its code.
STEP_PARAMETERS = ("upstream", "product", "run_date", "stamp", "resources_")


def _one_of(names: Sequence[str]) -> str:
    return "(?:" + "|".join(names) + ")"


def noise_patterns() -> list[str]:
    """Regular expressions for warnings.filterwarnings (matched at the message's start)."""
    setting, param = _one_of(STARLOOM_SETTINGS), _one_of(STEP_PARAMETERS)
    return [
        # DAGSpec: "... unused in the spec: {'warehouse', 'project_name'}"
        r"The following placeholders are declared in the environment but unused in the "
        rf"spec: \{{'{setting}'(?:, '{setting}')*\}}\s*\Z",
        # NotebookSource: "... source code: 'resources_', and 'upstream'"
        r"These parameters are not used in the task's source code: "
        rf"'{param}'(?:, (?:and )?'{param}')*\s*\Z",
    ]


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Within the block, the warnings of `noise_patterns` are ignored; others show."""
    with warnings.catch_warnings():
        for pattern in noise_patterns():
            warnings.filterwarnings("ignore", message=pattern)
        yield


@dataclass
class BuildResult:
    """What `build` did: its exit status and each task's outcome."""

    status: int
    ran: dict[str, float] = field(default_factory=dict)  # task -> seconds
    skipped: list[str] = field(default_factory=list)  # up to date
    failed: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)  # after a failure upstream, say
    run_id: str = ""
    run_date: str = ""
    attempted: bool = True  # False: the options were refused or --help shown, nothing ran
    started_at: float = 0.0  # the time (time.time()) the build began

    @property
    def started(self) -> bool:
        """Whether any task was reached: a pipeline that did not load or render ran
        nothing, and has nothing to summarize but its error."""
        return bool(self.ran or self.skipped or self.failed)


def _parser():
    from ploomber.cli.parsers import CustomParser

    parser = CustomParser(description="Build the pipeline", prog="starloom run")
    with parser:
        flag = {"action": "store_true", "default": False}
        parser.add_argument("--force", "-f", help="run every task, up to date or not", **flag)
        parser.add_argument(
            "--skip-upstream", "-su", help="with --partially: not the tasks before", **flag
        )
        parser.add_argument("--partially", "-p", help="build up to this task", default=None)
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--debug", "-d", action="store_true", help="debug a failing task")
        group.add_argument(
            "--debuglater", "-D", action="store_true", help="keep a failure to debug later"
        )
    return parser


@contextlib.contextmanager
def _as_command_line(project_dir: Path, args: Sequence[str]) -> Iterator[None]:
    """sys.argv as Ploomber's parser reads it, the project as the working directory and on
    sys.path (as `ploomber build` has them), restored afterwards."""
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = ["starloom run", *args]
    sys.path.insert(0, str(project_dir))
    try:
        with contextlib.chdir(project_dir):
            yield
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path


def _without_ploomber_help(message: str) -> str:
    """Ploomber's error without its closing pointer to Ploomber's community."""
    return "\n".join(
        line for line in message.splitlines() if not line.startswith("Need help? https://ploomber")
    )


def _not_loaded(root: Path, message: str) -> str:
    """Ploomber's error when the pipeline could not be loaded, naming the file it read
    (Ploomber's own message says `spec`, or names only a task's file)."""
    from starloom.settings import PROJECT_MARKER

    text = _without_ploomber_help(message).strip().removeprefix("Error: ")
    return (
        f"error: the pipeline in {root / PROJECT_MARKER} could not be loaded: {text}\n"
        "Fix the file (or the task's source it names), then run again."
    )


def _outcomes(dag, report, result: BuildResult) -> None:
    """Each task's outcome (ran, up to date, failed, not run) into `result`, with the
    seconds of those that ran from Ploomber's report when there is one."""
    from ploomber.constants import TaskStatus

    seconds: dict[str, float] = {}
    try:
        seconds = dict(zip(report.values["name"], map(float, report.values["Elapsed (s)"])))
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    for name in dag or ():
        status = dag[name].exec_status
        if status == TaskStatus.Executed:
            result.ran[name] = seconds.get(name, 0.0)
        elif status == TaskStatus.Skipped:
            result.skipped.append(name)
        elif status in (TaskStatus.Errored, TaskStatus.BrokenProcessPool):
            result.failed.append(name)
        else:
            result.not_run.append(name)


def _skip_iri_grammars() -> None:
    """Ploomber imports papermill, which imports nbformat, which imports jsonschema, which
    imports rfc3987_syntax when it is installed (JupyterLab's dependencies install it) to
    check the `iri` string format. That import compiles 38 grammars: 0.85 s, most of a run
    with nothing to do. Nothing in a build checks that format, so this process does without
    it (jsonschema skips a format whose checker cannot be imported)."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


@contextlib.contextmanager
def _without_engine_plots():
    """Importing Ploomber imports papermill, which loads every papermill engine another
    package registers; ploomber-engine's imports matplotlib.pyplot (0.4 s) for a memory
    profiler a build never uses. While Ploomber is imported, that import fails as if
    matplotlib were absent (ploomber-engine then goes without the plot); afterwards
    matplotlib imports as usual (the reports' charts use it)."""
    if "matplotlib.pyplot" in sys.modules or "ploomber" in sys.modules:
        yield
        return
    sys.modules["matplotlib.pyplot"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get("matplotlib.pyplot", 0) is None:
            del sys.modules["matplotlib.pyplot"]
        profiling = sys.modules.get("ploomber_engine.profiling")
        if profiling is not None and getattr(profiling, "plt", 0) is None:
            profiling.plt = _LazyPyplot()  # its memory plot still works if a task asks


def _compare_same_code_as_is() -> None:
    """Ploomber decides whether a Python step's code changed by normalizing the code it
    recorded and the code it has with autopep8 (0.12 s a step), even when the two texts
    are the same, which is every run with nothing new. The same text normalizes the same:
    then only the parameters are compared, as Ploomber compares them."""
    from ploomber import codediffer

    original = codediffer.CodeDiffer.is_different
    if getattr(original, "same_code_as_is", False):
        return

    def is_different(self, a, b, a_params, b_params, extension=None):
        if a != b or a is None:
            return original(self, a, b, a_params, b_params, extension)
        if a_params is None or b_params is None:
            return False, ""
        keep = codediffer.remove_non_serializable_top_keys
        return keep(a_params) != keep(b_params), ""

    is_different.same_code_as_is = True
    codediffer.CodeDiffer.is_different = is_different


class _LazyPyplot:
    """matplotlib.pyplot, imported when first used."""

    def __getattr__(self, name: str):
        import matplotlib.pyplot

        return getattr(matplotlib.pyplot, name)


def stamp_inputs(dag, project_dir: Path) -> None:
    """Each step whose `stamp` is "ingest <time>" or "models <time>" (pipeline.yaml gives
    `"ingest {{now}}"`) gets the fingerprint of what it reads instead of the time
    (starloom.pipeline.input_fingerprints): Ploomber then runs it, and what comes after it,
    only when a data file, a source or a model changed. The step publishing the reports is
    given the names of its upstream tasks: it runs again when a report is added or taken
    out, not only when a report changed."""
    from starloom.pipeline import input_fingerprints, publish_reports
    from starloom.project import Project

    prints: dict[str, str] | None = None
    for name in dag:
        params = dag[name].params
        if getattr(dag[name].source, "primitive", None) is publish_reports:
            params._setitem("reports", ",".join(sorted(dag[name].upstream)))
            continue
        stamp = params.to_dict().get("stamp")
        kind = stamp.split(" ", 1)[0] if isinstance(stamp, str) else ""
        if kind in ("ingest", "models"):
            prints = prints or input_fingerprints(Project.load(project_dir))
            params._setitem("stamp", f"{kind} {prints[kind]}")  # Params are read-only


def build(
    args: Sequence[str] = (), project_dir: Path | None = None, progress: bool | None = None
) -> BuildResult:
    """Build the project's pipeline as `ploomber build ARGS` would, in this process.

    `progress` shows Ploomber's task progress bar (default: when stderr is a terminal).
    Errors are printed as Ploomber prints them; the status is 0, or 1 when the build failed.
    """
    _skip_iri_grammars()
    with _without_engine_plots():
        import ploomber.dag.dag  # noqa: F401  (what imports papermill's engines)
    _compare_same_code_as_is()
    from ploomber.exceptions import DAGBuildError, DAGRenderError
    from ploomber.executors import _format
    from ploomber_core.exceptions import BaseException as PloomberError

    from starloom import runs
    from starloom.settings import find_project_dir, load_settings

    root = Path(project_dir or find_project_dir()).resolve()
    if progress is None:
        progress = sys.stderr.isatty()
    os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")
    os.environ.setdefault("PLOOMBER_VERSION_CHECK_DISABLED", "1")
    result = BuildResult(status=1, started_at=time.time())  # its run id: on_render mints it
    dag = report = None
    with _as_command_line(root, args), quiet_warnings():
        try:
            try:
                dag, parsed = _parser().load_from_entry_point_arg()
            except PloomberError as exc:
                print(_not_loaded(root, exc.get_message()), file=sys.stderr)
                return result
            stamp_inputs(dag, root)
            result.run_date = str(
                getattr(parsed, "env__run_date", None)
                or load_settings(root).raw.get("run_date")
                or ""
            )
            debug = "now" if parsed.debug else "later" if parsed.debuglater else None
            if parsed.partially:
                report = dag._build_partially(  # the tasks not wanted are removed from dag
                    parsed.partially,
                    force=parsed.force,
                    debug=debug,
                    skip_upstream=parsed.skip_upstream,
                    deepcopy=False,
                    show_progress=progress,
                )
            else:
                report = dag.build(force=parsed.force, debug=debug, show_progress=progress)
        except (DAGBuildError, DAGRenderError) as exc:
            print(_without_ploomber_help(str(exc)), file=sys.stderr)
        except PloomberError as exc:
            print(_without_ploomber_help(exc.get_message()), file=sys.stderr)
        except SystemExit as exc:  # argparse: --help, or a wrong option (already printed)
            result.status = exc.code if isinstance(exc.code, int) else 2
            result.attempted = False
            return result
        except Exception as exc:  # the project's code, or a bug: the whole story
            print(_format.exception(exc), file=sys.stderr)
        else:
            result.status = 0
    _outcomes(dag, report, result)
    result.run_id = os.environ.get(runs.ENV, "") or result.run_id
    return result
