"""The cdktf app (`cdktf.json`: `.venv/bin/python -m stacks.main`).

Synthesizes every `stacks/*.yaml`, or those named by `OCIFT_ENVIRONMENTS=dev,prod`, into the
directory the cdktf CLI names (`CDKTF_OUTDIR`, default `cdktf.out`), in HCL when the CLI asks
(`cdktf synth --hcl`). Config problems are all printed and the exit status is 1 before anything
is created in the output directory; failed schema or rule checks also leave it untouched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stacks.app import synth_all
from stacks.errors import ConfigError

CLI_SYNTH_VAR = "SYNTH_HCL_OUTPUT"
"""Set by the cdktf CLI for the app it runs (`@cdktf/cli-core` 0.21.0, `src/lib/synth-stack.js`). After
the app exits, the CLI removes every stack directory it saw before the synth that the new manifest
lacks, with `fs.rmSync` and no `force`: had the app removed one already, the CLI fails with
`ENOENT: lstat cdktf.out/stacks/<gone>` whenever the set of stacks shrinks. Under the CLI the app
leaves that pruning to it."""


def main() -> int:
    outdir = Path(os.environ.get("CDKTF_OUTDIR") or "cdktf.out")
    try:
        summary = synth_all(outdir, prune=CLI_SYNTH_VAR not in os.environ)
    except ConfigError as exc:
        print(
            f"ocift: invalid environment config ({len(exc.problems)} problem(s)); nothing was synthesized:",
            file=sys.stderr,
        )
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(summary.render(), file=sys.stdout if summary.ok else sys.stderr)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
