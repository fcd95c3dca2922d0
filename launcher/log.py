"""One line per event, `key=value`, prefixed with the node rank: easy to read and to search in
OCI Logging, where every node's lines land in one custom log.

Secret values registered with `redact` are replaced before anything is written, so a token
that ends up in an error message never reaches the log.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

_lock = threading.Lock()
_context: dict[str, Any] = {}
_secrets: set[str] = set()
_stream: TextIO | None = None


def configure(stream: TextIO | None = None, **context: Any) -> None:
    """Set fields carried by every line (e.g. node=0) and, optionally, the output stream."""
    global _stream
    _context.update(context)
    if stream is not None:
        _stream = stream


def redact(*values: str) -> None:
    """Never print these values (secrets read at run time)."""
    _secrets.update(v for v in values if v and len(v) >= 4)


def scrub(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


def _format(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def format_eta(seconds: float) -> str:
    """`1h02m03s`, `4m05s`, `6s`: short enough for a log field."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def event(name: str, level: str = "info", **fields: Any) -> None:
    """Write one event line: `<UTC time> ocift <level> <context> event=<name> k=v ...`."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
    parts = [stamp, "ocift", level]
    parts += [f"{k}={_format(v)}" for k, v in {**_context, "event": name, **fields}.items()]
    line = scrub(" ".join(parts))
    with _lock:
        stream = _stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


def error(name: str, **fields: Any) -> None:
    event(name, level="error", **fields)
