"""The control group: a gloo (CPU) process group for waits and small agreements.

With a GPU the default group is NCCL (`device_id` bound), and a `dist.barrier()` there is an NCCL
collective under its watchdog (10 minutes by default: torch.distributed.constants
default_pg_nccl_timeout, v2.13). Ranks that wait for rank 0 to tokenize a dataset, merge LoRA or
write a multi-GB Hugging Face export would abort a job that is in fact finishing. Those waits run
here instead, as a gloo barrier whose `Work.wait(timeout)` bounds each wait on its own
(`monitored_barrier` would not do: only rank 0 enforces its timeout, and here rank 0 is the late one).
"""

from __future__ import annotations

from datetime import timedelta

import torch.distributed as dist

#: How long peers wait for one rank's long work (tokenizing, merging, exporting tens of GB).
RANK0_WORK_TIMEOUT = timedelta(hours=2)


def new_control_group():
    """Every rank calls it once, after init_process_group."""
    return dist.new_group(backend="gloo", timeout=RANK0_WORK_TIMEOUT)


def wait(control, what: str, timeout: timedelta = RANK0_WORK_TIMEOUT) -> None:
    """Every rank waits here until all have arrived, for at most `timeout`; `what` names the wait."""
    if dist.get_world_size(control) == 1:
        return
    try:
        dist.barrier(group=control, async_op=True).wait(timeout)
    except RuntimeError as exc:
        raise RuntimeError(
            f"waiting for all ranks after {what}: not all arrived within {timeout.total_seconds():.0f} s ({exc})"
        ) from exc
