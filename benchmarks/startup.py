"""Start-up time of the ``bakemigrate`` command: how long a person waits before anything happens.

Three commands are timed, each as a whole fresh process, ``--repeat`` times (medians reported):

* ``bakemigrate --version``;
* ``bakemigrate migrate --help``;
* ``bakemigrate migrate DEMO --workdir W --dry-run`` on the default demo database (200 runs).

For each, the heavy libraries the command imported are listed (from ``python -X importtime``), so
the figures say why they are what they are. Targets: 0.3 s for the first two, 1 s for the dry run,
in an environment with ``.[dev]`` installed (JupyterLab's packages included: with them, importing
jsonschema alone takes over a second and a half). ``python benchmarks/startup.py [--repeat 10]``
writes ``benchmarks/results/startup.md`` and ``startup.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
HEAVY = ("jsonschema", "pandas", "sqlalchemy", "nbclient", "matplotlib", "rfc3987_syntax")
TARGETS = {"--version": 0.3, "migrate --help": 0.3, "migrate --dry-run": 1.0}


@dataclass
class Timing:
    """One command's start-up: every sample, their median and the heavy libraries it imported."""

    command: str
    target: float
    samples: list[float]
    median: float
    best: float
    heavy_imports: list[str]
    returncode: int


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _command(args: list[str]) -> list[str]:
    """``bakemigrate ARGS`` as a person runs it: this environment's console script when it has one."""
    script = Path(sys.executable).parent / "bakemigrate"
    if script.is_file():
        return [sys.executable, str(script), *args]
    return [sys.executable, "-m", "bakemigrate", *args]


def heavy_imports(args: list[str], cwd: Path) -> list[str]:
    """The heavy libraries that ``bakemigrate ARGS`` imports (read from ``-X importtime``)."""
    command = _command(args)
    done = subprocess.run([command[0], "-X", "importtime", *command[1:]], cwd=cwd, env=_env(),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    found = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            top = line.rsplit("|", 1)[-1].strip().split(".")[0]
            if top in HEAVY:
                found.add(top)
    return sorted(found)


def time_command(label: str, args: list[str], repeat: int, cwd: Path) -> Timing:
    """Run ``bakemigrate ARGS`` ``repeat`` times in fresh processes; wall seconds of each."""
    command = _command(args)
    samples, code = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
        code = code or done.returncode
        if done.returncode:
            raise SystemExit(f"{' '.join(args)} failed (exit {done.returncode}): {done.stderr.decode()[-300:]}")
    return Timing(command=label, target=TARGETS[label], samples=[round(s, 4) for s in samples],
                  median=round(statistics.median(samples), 3), best=round(min(samples), 3),
                  heavy_imports=heavy_imports(args, cwd), returncode=code)


def measure(repeat: int) -> dict:
    """Every timing, with the facts of the environment they were taken in."""
    with tempfile.TemporaryDirectory(prefix="bakemigrate-startup-") as folder:
        scratch = Path(folder)
        db = scratch / "bake_tracker.db"
        subprocess.run(_command(["demo", str(db)]), cwd=scratch, env=_env(), check=True,
                       stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        cases = [
            ("--version", ["--version"]),
            ("migrate --help", ["migrate", "--help"]),
            ("migrate --dry-run", ["migrate", str(db), "--workdir", str(scratch / "work"), "--dry-run"]),
        ]
        timings = [time_command(label, args, repeat, scratch) for label, args in cases]
    return {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "jupyterlab_installed": importlib.util.find_spec("jupyterlab") is not None,
        "rfc3987_syntax_installed": importlib.util.find_spec("rfc3987_syntax") is not None,
        "repeat": repeat,
        "date": time.strftime("%Y-%m-%d"),
        "timings": [asdict(t) for t in timings],
    }


def markdown(result: dict) -> str:
    """The table of ``docs/performance.md``'s start-up section."""
    lab = "with" if result["jupyterlab_installed"] else "without"
    lines = [
        f"Machine: {result['machine']}; Python {result['python']}; {lab} JupyterLab installed "
        f"(rfc3987_syntax {'present' if result['rfc3987_syntax_installed'] else 'absent'}); "
        f"{result['repeat']} runs each, fresh processes; {result['date']}.",
        "",
        "| command | median s | best s | target s | heavy libraries imported |",
        "|---|---:|---:|---:|---|",
    ]
    for t in result["timings"]:
        heavy = ", ".join(t["heavy_imports"]) or "none"
        lines.append(f"| `bakemigrate {t['command']}` | {t['median']:.2f} | {t['best']:.2f} "
                     f"| {t['target']:.1f} | {heavy} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for startup.md and startup.json")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    import compileall

    compileall.compile_dir(ROOT / "bakemigrate", quiet=1)  # as pip installs it: bytecode read, not compiled
    result = measure(args.repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "startup.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = markdown(result)
    (args.out / "startup.md").write_text(table, encoding="utf-8")
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
