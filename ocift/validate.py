"""`ocift validate [CONFIG.yaml ...]`: check environment configs without touching `cdktf.out`.

Each named config (every `stacks/*.yaml` when none is named) is validated, synthesized into a
temporary directory, and its stacks checked against the provider schema (`cdk.schema_check`) and
the rule pack. Prints a summary per environment; exit status 0 only when everything passes.
`--synth-dir DIR` instead checks an existing synth output (e.g. `cdktf.out`) against the schema
only: one line per error, exit 1 on any, 2 when DIR holds no synthesized stack.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from stacks.errors import ConfigError


def check_synth_dir(outdir: Path) -> int:
    """Schema errors of the stacks synthesized in `outdir`, one per line; exit status 0, 1 or 2."""
    from cdk.schema_check import validate_synth_dir

    try:
        errors = validate_synth_dir(outdir)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for error in errors:
        print(error)
    print(f"{len(errors)} schema error(s)" if errors else "schema: ok")
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ocift validate",
        description="Validate environment configs, synthesize them in a temporary directory, and check "
        "every stack against the oracle/oci schema and the rule pack.",
    )
    parser.add_argument(
        "configs",
        nargs="*",
        metavar="CONFIG.yaml",
        help="config files, or environment names under stacks/ (default: every stacks/*.yaml)",
    )
    parser.add_argument(
        "--synth-dir",
        type=Path,
        metavar="DIR",
        help="instead, check the stacks already synthesized in DIR (e.g. cdktf.out) against the schema",
    )
    args = parser.parse_args(argv)
    if args.synth_dir is not None:
        if args.configs:
            parser.error("--synth-dir checks an existing synth output: name no CONFIG.yaml with it")
        return check_synth_dir(args.synth_dir)
    from stacks.app import discover, synth_all  # cdktf starts a node process: not for --help

    paths = discover(args.configs)  # none named: every stacks/*.yaml (OCIFT_ENVIRONMENTS is for synth)
    try:
        with tempfile.TemporaryDirectory(prefix="ocift-validate-") as tmp:
            summary = synth_all(Path(tmp) / "cdktf.out", paths)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} config problem(s)", file=sys.stderr)
        return 1
    print(replace(summary, outdir=None).render(), file=sys.stdout if summary.ok else sys.stderr)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
