"""Under torchrun (2 CPU processes): rank 0 works for `work` seconds, then both wait on the control
group with a `timeout`-second limit. Exit 0 and prints "passed" when every rank got through."""

from __future__ import annotations

import sys
import time
from datetime import timedelta

import torch.distributed as dist

from launcher.train.control import new_control_group, wait


def main(work: float, timeout: float) -> None:
    dist.init_process_group("gloo")
    control = new_control_group()
    if dist.get_rank() == 0:
        time.sleep(work)
    wait(control, "rank 0's export", timeout=timedelta(seconds=timeout))
    print("passed", flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]), float(sys.argv[2]))
