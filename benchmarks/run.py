"""Benchmark of ``bakemigrate migrate`` against the physical floor, at several database sizes.

For each size a v0.6 demo database is made with ``bakemigrate demo``. Each repeat then measures, in
fresh child processes on fresh copies:

* the floor (``benchmarks/floor.py``): copy the file, rebuild the production tables at v0.7 with
  ``INSERT … SELECT``, commit;
* every step of :class:`bakemigrate.pipeline.Migration`, called in one process (seconds per step);
* ``bakemigrate migrate --yes --quiet`` as a whole process (wall time, and peak RSS of it and the
  second process its import may start, together).

Medians of the repeats are reported; the headline is the ratio of the whole ``migrate`` to the floor.
``python benchmarks/run.py [--sizes 1000 10000 100000] [--repeat 3] [--million]`` writes
``benchmarks/results/latest.md`` and ``latest.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
STEPS = ("backup", "export", "transform", "reset", "import", "verify", "switch")
DEFAULT_SIZES = (1_000, 10_000, 100_000)
FLOORED_STEPS = ("backup", "export", "import", "verify", "switch")
"""The steps with a floor of their own (`floor.step_floors`); transform and reset have none: the
export writes the 1.1 document in its pass, and the reset is part of the floor's copy."""
MILLION = 1_000_000


@dataclass
class ChildRun:
    """One child process: its wall time, peak resident memory and what it printed."""

    seconds: float
    max_rss_mb: float
    stdout: str
    returncode: int


def _tree_rss_peak(pid: int, stop: threading.Event, peak: list[int], every: float = 0.02) -> None:
    """Sample the resident memory of process ``pid`` and all its descendants together (a `migrate`
    imports a large document in two processes) every ``every`` seconds into ``peak[0]``, until ``stop``."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not stop.is_set():
        total = 0
        try:
            for process in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
                    total += process.memory_info().rss
        except psutil.NoSuchProcess:
            return
        peak[0] = max(peak[0], total)
        stop.wait(every)


def run_child(args: list[str], cwd: Path = ROOT) -> ChildRun:
    """Run ``args`` in a fresh process; its peak RSS is the larger of ``wait4``'s (the largest single
    process) and the sampled peak of it and its descendants together."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        stop, tree_peak = threading.Event(), [0]
        sampler = threading.Thread(target=_tree_rss_peak, args=(proc.pid, stop, tree_peak), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {err.read().decode()[-2000:]}")
    # ru_maxrss is in kilobytes on Linux, bytes on macOS
    rss = max(usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024), tree_peak[0] / 2**20)
    return ChildRun(seconds=seconds, max_rss_mb=rss, stdout=stdout, returncode=proc.returncode)


def time_steps(db: str, workdir: str) -> dict[str, float]:
    """Run every :class:`~bakemigrate.pipeline.Migration` step in order, timing each (seconds).

    Each step method first makes sure the steps before it are done: those checks count in its time.
    """
    from bakemigrate.pipeline import Migration

    migration = Migration(db, workdir, progress=False)
    calls = {
        "backup": migration.backup, "export": migration.export, "transform": migration.transform,
        "reset": migration.reset, "import": migration.import_, "verify": migration.verify,
        "switch": lambda: migration.switch(confirm=True),
    }
    import resource

    started = time.perf_counter()
    migration.preflight()
    times = {"preflight": time.perf_counter() - started}
    # the peak so far (the step that raises it is the one that needs the memory) of this process and
    # the second process of a large step together, sampled as `run_child` samples a whole migrate
    stop, tree_peak = threading.Event(), [0]
    # every 100 ms: the sampling thread shares this process's interpreter with the steps it times
    sampler = threading.Thread(target=_tree_rss_peak, args=(os.getpid(), stop, tree_peak, 0.1), daemon=True)
    sampler.start()
    try:
        for name in STEPS:
            started = time.perf_counter()
            result = calls[name]()
            times[name] = time.perf_counter() - started
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
            times[f"{name}_peak_mb"] = max(own, tree_peak[0] / 2**20)
            if name == "verify" and not result.passed:
                raise RuntimeError(f"verification failed: {result.summary_line()}")
    finally:
        stop.set()
        sampler.join()
    return times


@dataclass
class SizeResult:
    """Medians over the repeats at one size."""

    runs: int
    consumptions: int
    db_mb: float
    floor: float
    steps: dict[str, float]
    migrate: float
    migrate_rss_mb: float
    json_mb: float
    step_floors: dict[str, float] = field(default_factory=dict)
    step_peaks_mb: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Whole ``migrate`` process over the floor."""
        return self.migrate / self.floor if self.floor else float("nan")


def fresh_copy(source: Path, folder: Path, name: str) -> Path:
    """A copy of ``source`` in an emptied ``folder``."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    target = folder / name
    shutil.copyfile(source, target)
    return target


def measure_size(runs: int, repeat: int, scratch: Path) -> SizeResult:
    """Make a demo database of ``runs`` runs and measure floor, steps and whole migrate."""
    py = sys.executable
    demo = scratch / f"demo_{runs}.db"
    demo.unlink(missing_ok=True)
    run_child([py, "-m", "bakemigrate", "demo", str(demo), "--runs", str(runs)])
    samples: dict[str, list[float]] = {k: [] for k in ("floor", "migrate", "rss", "json", *STEPS, "preflight",
                                                       *(f"{s}_peak_mb" for s in STEPS),
                                                       *(f"{s}_floor" for s in FLOORED_STEPS))}
    consumptions = 0
    for _ in range(repeat):
        floor = run_child([py, str(HERE / "floor.py"), str(demo), str(scratch / "floor.db")])
        facts = json.loads(floor.stdout)
        samples["floor"].append(facts["total"])
        consumptions = facts["consumptions"]
        own = run_child([py, str(HERE / "floor.py"), str(demo), str(scratch / "floor.db"), "--steps"])
        for name, seconds in json.loads(own.stdout).items():
            samples[f"{name}_floor"].append(seconds)

        db = fresh_copy(demo, scratch / "steps", "bake_tracker.db")
        child = run_child([py, str(HERE / "run.py"), "--steps-child", str(db), str(scratch / "steps" / "work")])
        for name, seconds in json.loads(child.stdout.strip().splitlines()[-1]).items():
            samples[name].append(seconds)
        samples["json"].append((scratch / "steps" / "work" / "export_v1.1.json").stat().st_size / 1e6)

        db = fresh_copy(demo, scratch / "cli", "bake_tracker.db")
        cli = run_child([py, "-m", "bakemigrate", "migrate", str(db), "--workdir", str(scratch / "cli" / "work"),
                         "--yes", "--quiet"])
        if "PASS" not in cli.stdout:
            raise RuntimeError(f"migrate did not pass: {cli.stdout[-500:]}")
        samples["migrate"].append(cli.seconds)
        samples["rss"].append(cli.max_rss_mb)
    med = {k: statistics.median(v) for k, v in samples.items() if v}
    result = SizeResult(
        runs=runs, consumptions=consumptions, db_mb=demo.stat().st_size / 1e6, floor=med["floor"],
        steps={k: med[k] for k in ("preflight", *STEPS)}, migrate=med["migrate"], migrate_rss_mb=med["rss"],
        json_mb=med["json"], step_floors={s: med[f"{s}_floor"] for s in FLOORED_STEPS},
        step_peaks_mb={s: med[f"{s}_peak_mb"] for s in STEPS}, samples=samples,
    )
    shutil.rmtree(scratch / "steps", ignore_errors=True)
    shutil.rmtree(scratch / "cli", ignore_errors=True)
    (scratch / "floor.db").unlink(missing_ok=True)
    demo.unlink(missing_ok=True)
    return result


def measure_notebook(scratch: Path) -> dict[str, Any]:
    """Wall time of ``bakemigrate notebook`` on the default demo database, or why it was not run."""
    py = sys.executable
    try:
        from bakemigrate import notebook  # noqa: F401
    except ImportError:
        return {"available": False, "reason": "not available: `bakemigrate notebook` is not in this build"}
    folder = scratch / "notebook"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "bake_tracker.db"
    run_child([py, "-m", "bakemigrate", "demo", str(db)])
    try:
        child = run_child([py, "-m", "bakemigrate", "notebook", "--db", str(db), "--workdir", str(folder / "work"),
                           "--output", str(folder / "out.ipynb")])
    except RuntimeError as exc:
        return {"available": False, "reason": f"failed: {str(exc).splitlines()[-1][:200]}"}
    shutil.rmtree(folder, ignore_errors=True)
    return {"available": True, "seconds": child.seconds}


def _fmt(seconds: float) -> str:
    return f"{seconds:.2f}"


def step_floor_table(results: list[SizeResult]) -> list[str]:
    """Each step against its own floor at every size, the peak memory each step reached, and which
    step is closest to its floor and which is farthest (where the next gain is)."""
    if not results or not results[-1].step_floors:
        return []
    head = ["step", *(f"{r.runs:,} runs: s (× its floor)" for r in results), f"peak MB at {results[-1].runs:,}"]
    lines = ["Each step against its own floor (backup: copy + fsync; export: read the production rows, write "
             "them as JSON; import: `executemany` of the same rows; verify: read both sides and compare; "
             "switch: `os.replace` + fsync), and the process's peak memory when the step ended (with the import's "
             "second process, if one ran, added to it):", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for step in STEPS:
        cells = []
        for r in results:
            own = r.step_floors.get(step)
            cells.append(f"{r.steps[step]:.2f} ({r.steps[step] / own:.1f}×)" if own else f"{r.steps[step]:.2f}")
        lines.append("| " + " | ".join([step, *cells, f"{results[-1].step_peaks_mb[step]:.0f}"]) + " |")
    big = results[-1]
    ratios = {s: big.steps[s] / big.step_floors[s] for s in FLOORED_STEPS if big.step_floors.get(s)}
    if ratios:
        closest, farthest = min(ratios, key=ratios.get), max(ratios, key=ratios.get)
        lines += ["", f"At {big.runs:,} runs the step closest to its own floor is **{closest}** "
                      f"({ratios[closest]:.1f}×); the farthest is **{farthest}** ({ratios[farthest]:.1f}×), "
                      "where the next gain is."]
    return lines


def render_markdown(results: list[SizeResult], notebook: dict[str, Any], meta: dict[str, Any]) -> str:
    """The results as a markdown report: one table row per size, then scaling and notebook rows."""
    head = ["runs", "consumptions", "DB MB", *STEPS, "steps total", "migrate (process)", "floor",
            "ratio to floor", "peak RSS MB", "JSON MB"]
    lines = [
        "# Benchmark: `bakemigrate migrate` against the physical floor",
        "",
        f"Machine: {meta['machine']}; Python {meta['python']}; SQLite {meta['sqlite']}; "
        f"{meta['repeat']} repeat(s), medians; {meta['date']}.",
        "",
        "Seconds per step (in one process, `Migration` methods), the whole `migrate` as a fresh process, "
        "the floor (copy + `INSERT … SELECT` into v0.7 tables + commit) measured in the same run on the same "
        "database, and the ratio of the whole `migrate` to the floor.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" for _ in head) + "|",
    ]
    for r in results:
        steps_total = sum(r.steps.values())
        row = [f"{r.runs:,}", f"{r.consumptions:,}", f"{r.db_mb:.1f}", *(_fmt(r.steps[s]) for s in STEPS),
               _fmt(steps_total), _fmt(r.migrate), _fmt(r.floor), f"{r.ratio:.1f}x", f"{r.migrate_rss_mb:.0f}",
               f"{r.json_mb:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("The step times include a `preflight` not shown as a column: "
                 + ", ".join(f"{r.runs:,} runs {r.steps['preflight']:.2f} s" for r in results) + ".")
    by_size = {r.runs: r for r in results}
    if 10_000 in by_size and 100_000 in by_size:
        small, big = by_size[10_000], by_size[100_000]
        lines += [
            "",
            f"Scaling 10,000 → 100,000 runs: total time x{big.migrate / small.migrate:.1f}, "
            f"peak RSS x{big.migrate_rss_mb / small.migrate_rss_mb:.1f} (10x the data).",
        ]
    lines += ["", *step_floor_table(results)]
    lines.append("")
    if notebook.get("available"):
        lines.append(f"Headless notebook (`bakemigrate notebook`, default demo database): {notebook['seconds']:.1f} s.")
    else:
        lines.append(f"Headless notebook: {notebook.get('reason', 'not measured')}.")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write ``results/latest.md`` and ``latest.json``."""
    parser = argparse.ArgumentParser(description="Benchmark bakemigrate migrate against the physical floor.")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="runs per database")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per size (medians are reported)")
    parser.add_argument("--million", action="store_true", help="add a 1,000,000-run database")
    parser.add_argument("--no-notebook", action="store_true", help="skip the headless notebook row")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.md", help="markdown report to write")
    parser.add_argument("--scratch", type=Path, default=None, help="folder for the databases (default: temp)")
    parser.add_argument("--steps-child", nargs=2, metavar=("DB", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps_child:
        print(json.dumps(time_steps(*args.steps_child)))
        return 0
    sizes = sorted(set(args.sizes + ([MILLION] if args.million else [])))
    import compileall
    import sqlite3

    # The package's bytecode, compiled once as pip does when it installs it: every process timed
    # then reads it, as on a baker's machine, even where PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(ROOT / "bakemigrate", quiet=1)

    meta = {"machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "repeat": args.repeat,
            "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory(prefix="bakemigrate-bench-", dir=args.scratch) as tmp:
        scratch = Path(tmp)
        results = []
        for runs in sizes:
            print(f"measuring {runs:,} runs ...", file=sys.stderr, flush=True)
            results.append(measure_size(runs, args.repeat, scratch))
        notebook = {"available": False, "reason": "skipped (--no-notebook)"} if args.no_notebook else (
            measure_notebook(scratch))
    text = render_markdown(results, notebook, meta)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    record = {"meta": meta, "notebook": notebook,
              "sizes": [{**asdict(r), "ratio": r.ratio} for r in results]}
    args.output.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
