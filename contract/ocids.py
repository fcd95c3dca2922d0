"""The OCID format, in one place: config fields, construct props, launcher settings and the
policy rules all check OCIDs, and a wrong assumption about the format is fixed here once.

`ocid1.<resource type>.<realm>.[region][.future use].<unique id>`
"""

from __future__ import annotations

import re

# Unanchored, so rules can embed it in larger expressions.
PATTERN = r"ocid1\.(?P<type>[a-z0-9]+)\.(?P<realm>oc[0-9]+)\.(?P<region>[a-z0-9-]*)(?:\.[a-z0-9-]*)?\.(?P<id>[a-z0-9]+)"
_FULL = re.compile(rf"^{PATTERN}$")


def ocid_type(value: str) -> str | None:
    """The resource type of a well-formed OCID (`vaultsecret`, `compartment`...), else None."""
    match = _FULL.match(value) if isinstance(value, str) else None
    return match.group("type") if match else None


def typed_pattern(resource_type: str) -> str:
    """An unanchored expression matching OCIDs of one resource type only."""
    return (
        PATTERN.replace("(?P<type>[a-z0-9]+)", re.escape(resource_type), 1)
        .replace("?P<realm>", "")
        .replace("?P<region>", "")
        .replace("?P<id>", "")
    )
