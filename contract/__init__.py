"""The contract both halves share, below everything else and importing nothing of ours.

`recipe` (the training options), `settings` (the launcher's `OCIFT_*` variables), `manifest`
(what makes a checkpoint committed), `ocids` (the OCID format). `stacks/` and `cdk/` render
them into a job; `launcher/` reads them on every replica; the image ships this package.
"""
