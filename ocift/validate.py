"""`ocift validate [CONFIG.yaml ...]`: check environment configs without touching `cdktf.out`.

Each named config (every `stacks/*.yaml` when none is named) is validated, synthesized into a
temporary directory, and its stacks checked against the provider schema (`cdk.schema_check`) and
the rule pack. Prints a summary per environment; exit status 0 only when everything passes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from stacks.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ocift validate",
        description="Validate environment configs, synthesize them in a temporary directory, and check "
                    "every stack against the oracle/oci schema and the rule pack.")
    parser.add_argument("configs", nargs="*", metavar="CONFIG.yaml",
                        help="config files, or environment names under stacks/ (default: every stacks/*.yaml)")
    args = parser.parse_args(argv)
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
