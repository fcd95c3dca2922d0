"""The torchrun command for one node, and a thin runner that keeps the worker's exit code.

Rendezvous backend: **static**. With `c10d`, torchrun ignores `--node-rank` and numbers nodes
in the order they join, so global ranks would depend on start-up timing; with `static`, rank 0
hosts the TCPStore at `--master-addr:--master-port` and every node's ranks follow NODE_RANK
(node r gets global ranks r*nproc .. r*nproc+nproc-1), which is what the metadata file, the
logs and any per-node reasoning (HSDP groups, who uploads what) assume. Static rendezvous is
fixed-size, which matches a job run: its node count does not change while it runs, and we
run with `--max-restarts 0` (a failed worker fails the run; resume restarts it).

`python -m launcher.torchrun` is `torch.distributed.run` itself, except for what it returns:
torchrun exits 1 whenever a worker fails, and the launcher's contract is that the worker's
exit code is the job's, so this runner returns the first failed worker's code instead.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence

from contract.settings import LauncherSettings
from launcher.cluster import ClusterTopology

#: Exit status when rendezvous fails (a peer listed in the metadata never joined).
EXIT_RENDEZVOUS = 75

#: The workers' environment defaults; a value the job's environment sets wins.
#: - NCCL flight recorder: keep the last 2000 collectives per rank and dump them when the watchdog
#:   times out, so a hang names the collective and the rank that stopped (ProcessGroupNCCL
#:   environment variables, pytorch.org/docs/stable/torch_nccl_environment_variables.html: the dump
#:   needs a trace buffer size above 0). Dumps go to TORCH_NCCL_DEBUG_INFO_TEMP_FILE (/tmp/nccl_trace_rank_).
#: - expandable_segments: the CUDA caching allocator grows segments instead of leaving fragments
#:   between fixed-size blocks, which otherwise costs GBs at 7B shapes with varying sequence lengths
#:   (pytorch.org/docs/stable/notes/cuda.html, "Optimizing memory usage with PYTORCH_CUDA_ALLOC_CONF").
WORKER_ENV_DEFAULTS = {
    "TORCH_NCCL_TRACE_BUFFER_SIZE": "2000",
    "TORCH_NCCL_DUMP_ON_TIMEOUT": "1",
    "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
}


def worker_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` with `WORKER_ENV_DEFAULTS` filled in where it sets nothing."""
    return {**WORKER_ENV_DEFAULTS, **environ}


def gpu_count() -> int:
    """GPUs visible on this node (imports torch: only called when the count is needed)."""
    import torch

    return torch.cuda.device_count()


def procs_per_node(settings: LauncherSettings) -> int:
    """`nproc_per_node` when set; else one process per GPU; else `cpu_procs_per_node`."""
    if settings.nproc_per_node:
        return settings.nproc_per_node
    return gpu_count() or settings.cpu_procs_per_node


def command(
    topology: ClusterTopology, nproc: int, settings: LauncherSettings, module: str, args: Sequence[str]
) -> list[str]:
    """`python -m launcher.torchrun ... -m <module> <args>` for this node."""
    if nproc < 1:
        raise ValueError(f"nproc_per_node={nproc}: need at least one process per node")
    return [
        sys.executable,
        "-m",
        "launcher.torchrun",
        "--nnodes",
        str(topology.nnodes),
        "--nproc-per-node",
        str(nproc),
        "--node-rank",
        str(topology.node_rank),
        "--rdzv-backend",
        "static",
        "--master-addr",
        topology.master_addr,
        "--master-port",
        str(topology.master_port),
        "--local-addr",
        topology.node_addr,
        "--rdzv-conf",
        f"timeout={math.ceil(settings.cluster_timeout_s)}",
        "--max-restarts",
        "0",
        "--shutdown-timeout",
        str(math.ceil(settings.term_grace_s)),
        "-m",
        module,
        *args,
    ]


def main(argv: Sequence[str]) -> int:
    """Run torchrun with `argv`; the first failed worker's exit status, 128+N on signal N."""
    from torch.distributed import DistStoreError
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun_main

    from launcher.signals import exit_status

    try:
        torchrun_main(list(argv))
    except ChildFailedError as exc:
        print(exc.format_msg(), file=sys.stderr)
        _, failure = exc.get_first_failure()
        return exit_status(failure.exitcode) or 1
    except SignalException as exc:
        return 128 + int(exc.sigval)
    except DistStoreError as exc:
        print(f"torchrun: rendezvous failed: {exc}", file=sys.stderr)
        return EXIT_RENDEZVOUS
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
