"""Environments as code: one YAML per environment (`stacks/<env>.yaml`) becomes checked cdktf stacks.

`config` (the validated model), `environment` (an environment's stacks from the L2 constructs),
`backends` (per-stack state), `app.synth_all` (synthesize + check + publish), `main` (the cdktf app),
`validate` (`ocift validate`), `summary` (the printed report).
"""

import cdk  # noqa: F401,E402 - quiets jsii's Node banner before cdktf loads (see cdk/__init__)
