import subprocess
import sys

from ocift.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_an_error(capsys):
    assert main(["deploy"]) == 2
    assert "unknown command 'deploy'" in capsys.readouterr().err


def test_no_command_prints_usage_and_fails():
    proc = subprocess.run([sys.executable, "-m", "ocift.cli"], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage: ocift" in proc.stdout


def test_every_command_module_has_main():
    import importlib

    for module, _ in COMMANDS.values():
        assert callable(importlib.import_module(module).main), module
