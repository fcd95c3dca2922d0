"""bench/synth.py measures what it claims: a whole process tree's peak memory, and appends its results."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tests.support import REPO

_spec = importlib.util.spec_from_file_location("bench_synth", REPO / "bench" / "synth.py")
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # dataclasses look their module up there
_spec.loader.exec_module(bench)

# A child that starts a grandchild holding ~120 MB: only a tree-wide measure sees the grandchild.
GRANDCHILD = (
    "import time; block = bytearray(120 * 1024 * 1024); block[::4096] = b'x' * len(block[::4096]); time.sleep(0.6)"
)
CHILD = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {GRANDCHILD!r}], check=True)"


def test_measure_sees_the_memory_of_grandchildren() -> None:
    result = bench.measure([sys.executable, "-c", CHILD])
    assert result.returncode == 0, result.output
    assert result.peak_mb > 120
    assert result.wall_s >= 0.6
    assert 0 < result.cpu_s < result.wall_s * 2  # the two Pythons' CPU time, not the sleep


def test_measure_reports_failure_and_output() -> None:
    result = bench.measure([sys.executable, "-c", "print('boom'); raise SystemExit(3)"])
    assert (result.returncode, result.output) == (3, "boom\n")


def test_results_are_appended_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    bench.append_results("\n## first\n", path)
    assert path.read_text() == bench.HEADER + "\n## first\n"
    path.write_text(path.read_text() + "\n## someone else's section\n")
    bench.append_results(bench.render([("synth", "1.00", "0.90", "100", "ok")], ["a note"]), path)
    text = path.read_text()
    assert text.startswith(bench.HEADER + "\n## first\n\n## someone else's section\n\n## synth and import, ")
    assert "| synth | 1.00 | 0.90 | 100 | ok |" in text and text.endswith("- a note\n")


def test_the_synth_command_is_the_one_cdktf_runs() -> None:
    assert bench.app_command()[-2:] == ["-m", "stacks.main"]
