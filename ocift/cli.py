"""`ocift`: one console script, thin over the modules that do the work.

Each subcommand lives in the module that owns it and exposes `main(argv) -> int`; it is
imported only when chosen, so `ocift run status` never pays for cdktf or torch.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("ocift.validate", "validate environment configs and check their synthesized stacks"),
    "review": ("ocift.review", "compare two synthesized trees (or a git ref) for a pull-request review"),
    "cost": ("ocift.cost", "price each job of the environments: hourly, and the worst case of one run"),
    "local": ("ocift.local", "run the launcher as N simulated nodes on this machine"),
    "run": ("ocift.run", "start, watch, inspect or cancel runs of a deployed job"),
    "demo": ("ocift.demo", "synthesize every environment and run a tiny local multi-node fine-tune"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: ocift <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`ocift <command> --help` describes a command; `ocift --version` prints the version."]
    return "\n".join(lines)


def version() -> str:
    """The installed distribution's version (pyproject.toml is its one definition)."""
    from importlib.metadata import PackageNotFoundError, version as installed

    try:
        return installed("ocift")
    except PackageNotFoundError:
        return "unknown (not installed: `pip install -e .` from the repository)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(f"ocift {version()}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"ocift: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
