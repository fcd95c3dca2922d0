import os

import pytest
from cdktf import TerraformStack, Testing

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")


@pytest.fixture
def stack() -> TerraformStack:
    return TerraformStack(Testing.app(), "l1")
