"""Synth cost of every shipped environment, beside the cost of importing the community OCI bindings.

Target (2-core machine): the whole app, every environment, synthesizes in under 3 s wall and 300 MB peak.
Run ``.venv/bin/python bench/synth.py``; it prints a table and appends it to ``bench/RESULTS.md``.

* synth: the app command from ``cdktf.json`` (what ``cdktf synth`` runs), in a subprocess with
  ``CDKTF_OUTDIR`` pointing at a temporary directory; then the schema validator over the output.
* import: ``import`` of our bindings (``cdk.oci.*``), and of the community wheel ``cdktf-provider-oci``
  installed (``pip install --no-deps --target``, cached under /tmp) beside this venv's cdktf/jsii.
Peak memory is the largest sum of RSS over the child's whole process tree (Python plus the jsii node
process), sampled every few milliseconds from /proc.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
COMMUNITY = "cdktf-provider-oci==1.1.2"
COMMUNITY_DIR = Path(tempfile.gettempdir()) / "ocift-bench-community"
HEADER = "# Benchmarks\n\nAppended by the bench scripts; newest last. Machine: `uname -m`, cores, RAM.\n"
ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CHECKPOINT_DISABLE": "1"}


@dataclass
class Measure:
    """One child run: wall seconds, CPU seconds (user+sys, whole tree), peak tree RSS (MB), exit code, output."""

    wall_s: float
    cpu_s: float
    peak_mb: float
    returncode: int
    output: str


def _tree_rss_kb(pid: int) -> int:
    """Sum of VmRSS over ``pid`` and its descendants (0 for a process that has already gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def measure(argv: list[str], env: dict[str, str] | None = None, interval_s: float = 0.005) -> Measure:
    """Run ``argv`` from the repo root, sampling its process tree's memory until it exits."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env={**os.environ, **ENV, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss_kb(proc.pid))
            time.sleep(interval_s)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        log.seek(0)
        output = log.read()
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Measure(wall, cpu, peak / 1024, proc.returncode, output[-2000:])


def app_command() -> list[str]:
    """The synth entry point exactly as ``cdktf.json`` names it."""
    return shlex.split(json.loads((ROOT / "cdktf.json").read_text())["app"])


def bench_synth(runs: int) -> tuple[list[Measure], list[str], int]:
    """``runs`` synths of the whole app; the stacks written and the schema errors in the last output."""
    from cdk.schema_check import validate_synth_dir

    results: list[Measure] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="ocift-synth-") as outdir:
            result = measure(app_command(), {"CDKTF_OUTDIR": outdir})
            if result.returncode != 0:
                raise SystemExit(f"synth failed ({result.returncode}):\n{result.output}")
            results.append(result)
            stacks = sorted(p.parent.name for p in Path(outdir).glob("stacks/*/cdk.tf.json"))
            errors = len(validate_synth_dir(Path(outdir))) if stacks else 0
    return results, stacks, errors


def community_site() -> tuple[Path, str]:
    """Install the community wheel (cached) without its dependencies; its site dir and top-level module."""
    site = COMMUNITY_DIR / "site"
    if not any(site.glob("*.dist-info")):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), COMMUNITY],
            check=True,
        )
    dist = next(site.glob("*.dist-info"))
    top_level = dist / "top_level.txt"
    if top_level.exists():
        module = top_level.read_text().split()[0]
    else:
        module = next(p.name for p in site.iterdir() if (p / "__init__.py").exists())
    return site, module


def bench_import(module_names: list[str], pythonpath: str | None = None) -> Measure:
    code = "import " + ", ".join(module_names)
    env = {"PYTHONPATH": pythonpath} if pythonpath else None
    result = measure([sys.executable, "-c", code], env)
    if result.returncode != 0:
        raise SystemExit(f"{code!r} failed:\n{result.output}")
    return result


def machine() -> str:
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    load = os.getloadavg()[0]
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.0f} GiB RAM, load average {load:.1f}"


def render(rows: Sequence[tuple[str, ...]], notes: list[str]) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"\n## synth and import, {now} ({machine()})\n",
        "| what | wall s | CPU s | peak MB | note |",
        "|---|---:|---:|---:|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


def append_results(text: str, path: Path = RESULTS) -> None:
    """Append a section; create the file with its header first. Never rewrites what others appended."""
    if not path.exists():
        path.write_text(HEADER)
    with path.open("a") as handle:
        handle.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="synth runs (median and worst are reported)")
    parser.add_argument("--skip-community", action="store_true", help="do not install/import the community wheel")
    parser.add_argument("--no-append", action="store_true", help=f"print only; do not append to {RESULTS.name}")
    args = parser.parse_args(argv)

    synths, stacks, errors = bench_synth(args.runs)
    walls, cpus, peaks = [m.wall_s for m in synths], [m.cpu_s for m in synths], [m.peak_mb for m in synths]
    ok = max(walls) < 3 and max(peaks) < 300
    rows = [
        (
            f"synth all environments ({', '.join(stacks) or 'no stacks'})",
            f"{statistics.median(walls):.2f} (worst {max(walls):.2f})",
            f"{statistics.median(cpus):.2f}",
            f"{statistics.median(peaks):.0f} (worst {max(peaks):.0f})",
            f"{args.runs} runs; target < 3 s and < 300 MB: {'met' if ok else 'MISSED'}; schema errors: {errors}",
        )
    ]
    services = ["artifacts", "core", "datascience", "identity", "kms", "logging", "objectstorage", "provider"]
    ours = bench_import([f"cdk.oci.{s}" for s in services])
    rows.append(
        (
            "import our bindings (cdk.oci.*)",
            f"{ours.wall_s:.2f}",
            f"{ours.cpu_s:.2f}",
            f"{ours.peak_mb:.0f}",
            "all 8 modules, with cdktf and the jsii runtime",
        )
    )
    notes = [
        f"synth command: `{' '.join(app_command())}` with CDKTF_OUTDIR set; peak = process tree RSS (Python + node).",
        "CPU s (user+sys of the whole tree) is the figure to compare across runs: wall time on a shared "
        "2-core machine stretches with the load average shown above.",
    ]
    if not args.skip_community:
        site, module = community_site()
        theirs = bench_import([module], str(site))
        rows.append(
            (
                f"import community {COMMUNITY}",
                f"{theirs.wall_s:.2f}",
                f"{theirs.cpu_s:.2f}",
                f"{theirs.peak_mb:.0f}",
                f"`import {module}` (one module, every resource)",
            )
        )
    text = render(rows, notes)
    print(text)
    if not args.no_append:
        append_results(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
