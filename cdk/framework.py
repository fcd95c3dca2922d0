"""The CDK core every construct builds on, from CDKTF (`cdktf`) or CDK Terrain (`cdktn`).

CDKTF was archived on 2025-12-10; CDK Terrain continues it as a drop-in rename (same classes,
same synthesized JSON, `cdktn` on PyPI and npm). Every import of the core goes through this
module, so switching is one line: `DEFAULT` below, or `CDK_CORE=cdktn` for one process
(`tests/l1/test_cdk_core.py` synthesizes every shipped environment with both and compares).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

#: The core used when `CDK_CORE` is not set: "cdktf" or "cdktn".
DEFAULT = "cdktf"
CORES = ("cdktf", "cdktn")
CORE = os.environ.get("CDK_CORE") or DEFAULT
if CORE not in CORES:
    raise ImportError(f"CDK_CORE={CORE!r}: the CDK core is one of {', '.join(CORES)}")

__all__ = [
    "Annotations",
    "App",
    "Aspects",
    "DefaultTokenResolver",
    "IAspect",
    "IListProducer",
    "IResolveContext",
    "ITerraformDependable",
    "ITerraformIterator",
    "Lazy",
    "StringConcat",
    "TerraformCount",
    "TerraformDataSource",
    "TerraformIterator",
    "TerraformOutput",
    "TerraformProvider",
    "TerraformProviderGeneratorMetadata",
    "TerraformRemoteState",
    "TerraformResource",
    "TerraformResourceLifecycle",
    "TerraformStack",
    "Testing",
    "Token",
    "Tokenization",
]

if TYPE_CHECKING:  # the type checker reads cdktf's stubs; cdktn's classes are the same
    from cdktf import *  # noqa: F403
else:
    _core = importlib.import_module(CORE)
    globals().update({name: getattr(_core, name) for name in __all__})
