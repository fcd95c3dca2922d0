"""Where the two sides of a review come from: synthesized trees, a git ref, or a Terraform plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ocift.review.model import Resource


class ReviewInputError(RuntimeError):
    """An input that cannot be reviewed, naming the file or ref at fault."""


def load_tree(outdir: Path) -> dict[str, dict[str, Any]]:
    """Every stack of a `cdktf.out` directory: stack name -> its synthesized JSON document."""
    stacks_dir = Path(outdir) / "stacks"
    if not stacks_dir.is_dir():
        raise ReviewInputError(f"{outdir}: not a synthesized tree (no stacks/ directory; run `cdktf synth` first)")
    out: dict[str, dict[str, Any]] = {}
    for stack_file in sorted(stacks_dir.glob("*/cdk.tf.json")):
        try:
            out[stack_file.parent.name] = json.loads(stack_file.read_text())
        except (OSError, ValueError) as exc:
            raise ReviewInputError(f"{stack_file}: unreadable stack: {exc}") from None
    return out


def resources_of(stack: str, document: dict[str, Any]) -> dict[str, Resource]:
    """Resources and data sources of one synthesized stack, without cdktf's `//` metadata.
    A document not shaped like a synthesized stack is a ReviewInputError naming where."""
    if not isinstance(document, dict):
        raise ReviewInputError(f"stack {stack}: not a synthesized stack (a JSON object), got {type(document).__name__}")
    found: dict[str, Resource] = {}
    for prefix, key in (("", "resource"), ("data.", "data")):
        section = document.get(key, {})
        for where, value in [(key, section)] + [
            (f"{key}.{t}", v) for t, v in (section.items() if isinstance(section, dict) else [])
        ]:
            if not isinstance(value, dict):
                raise ReviewInputError(f"stack {stack}: {where} is not a JSON object (got {type(value).__name__})")
        for tf_type, named in section.items():
            for name, attrs in named.items():
                if not isinstance(attrs, dict):
                    raise ReviewInputError(
                        f"stack {stack}: {key}.{tf_type}.{name} is not a JSON object (got {type(attrs).__name__})"
                    )
                meta = attrs.get("//")
                meta = meta.get("metadata") if isinstance(meta, dict) else None
                path = meta.get("path") if isinstance(meta, dict) else None
                clean = {k: v for k, v in attrs.items() if k != "//"}
                address = f"{prefix}{tf_type}.{name}"
                found[address] = Resource(stack, address, tf_type, clean, path if isinstance(path, str) else "")
    return found


def synth_ref(ref: str, repo: Path, workdir: Path) -> Path:
    """Synthesize the commit `ref` in a temporary worktree; return its output directory."""
    tree = workdir / "base-worktree"
    outdir = workdir / "base-out"
    add = subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), ref], capture_output=True, text=True
    )
    if add.returncode != 0:
        raise ReviewInputError(f"git ref {ref!r}: cannot check it out: {add.stderr.strip()}")
    try:
        synth_dir(tree, outdir)
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
    return outdir


def synth_dir(source: Path, outdir: Path, environments: Sequence[str] = ()) -> Path:
    """Run the stacks app of the checkout at `source` (its own code, this interpreter), for the
    named environments (default: those the app picks, all unless OCIFT_ENVIRONMENTS says)."""
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir), "PYTHONPATH": str(source)}
    if environments:
        env["OCIFT_ENVIRONMENTS"] = ",".join(environments)
    proc = subprocess.run([sys.executable, "-m", "stacks.main"], cwd=source, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ReviewInputError(f"synthesizing {source} failed:\n{proc.stdout}{proc.stderr}")
    return outdir


def temporary_workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="ocift-review-")


def load_plan(path: Path) -> dict[str, Any]:
    """A `terraform show -json <plan>` document (format_version 1.x)."""
    try:
        plan = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ReviewInputError(f"{path}: not a readable plan JSON: {exc}") from None
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise ReviewInputError(f"{path}: not `terraform show -json` output (no format_version)")
    if not str(plan["format_version"]).startswith("1."):
        raise ReviewInputError(f"{path}: plan format_version {plan['format_version']} is not supported (1.x is)")
    return plan
