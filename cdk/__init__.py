"""ocift's constructs: generated L1 bindings (`cdk.oci`), L2 constructs, policy rules, review.

jsii prints a large Node-20 end-of-life banner when cdktf loads; the variable (the Node major
version) silences it. It must be set before `cdktf` is first imported, so every entry point
imports this package first (`stacks` does at its top).
"""

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
