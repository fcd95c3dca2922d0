"""Launcher benchmarks: storage throughput against a single-stream baseline, and cluster formation.

    .venv/bin/python bench/launcher.py [--sizes 64,256] [--nodes 2] [--only storage|cluster]

Each case runs in a fresh process (so its peak RSS is its own) against moto's S3 server on
127.0.0.1: upload and download of one random file, our parallel multipart `Store` path
(sha256 computed and verified, temp-then-rename) next to one boto3 `put_object` /
`get_object` stream. Prints a table and appends it, with the machine, to bench/RESULTS.md.

Cluster formation: N simulated nodes (`ocift local`) run a torch.distributed child (an
all_reduce over gloo, `tests/launcher/child.py`); the time from the metadata file listing the
last node to every rank having finished its all_reduce, next to plain `torchrun` started with
the addresses already known (no discovery) on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script, bench/ comes first on sys.path and this file's name would shadow the package.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

RESULTS = Path(__file__).with_name("RESULTS.md")
CASES = (
    "hash: sha256 (part of ocift)",
    "upload: single put_object",
    "upload: boto3 multipart, no hashing",  # the transport alone: separates our integrity cost from it
    "upload: ocift multipart",
    "download: single get_object",
    "download: boto3 ranges, no verify",
    "download: ocift parallel",
)
MiB = 1 << 20


@dataclass(frozen=True)
class Row:
    """One case: median and best wall time over the repeats, the highest peak RSS."""

    benchmark: str
    case: str
    size_mb: int
    seconds: float
    best_s: float
    peak_rss_mb: float

    @property
    def mb_per_s(self) -> float:
        return self.size_mb / self.seconds if self.seconds else float("inf")


def machine() -> str:
    """`uname -m`, cores and RAM: the numbers mean little without them."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {pages / (1 << 30):.0f} GiB RAM, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )


def _storage_case(endpoint: str, bucket: str, case: str, path: str, queue: multiprocessing.Queue) -> None:
    """One timed transfer in this (child) process; puts (seconds, peak RSS MiB) on `queue`."""
    import boto3
    import botocore.config
    from boto3.s3.transfer import TransferConfig

    from launcher.storage import TransferOptions, open_store

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    config = botocore.config.Config(
        request_checksum_calculation="when_required", response_checksum_validation="when_required"
    )
    client = boto3.client("s3", endpoint_url=endpoint, config=config)
    store = open_store(f"s3://{bucket}/ours", endpoint=endpoint)
    options = TransferOptions()
    parts = TransferConfig(
        multipart_threshold=options.multipart_threshold,
        multipart_chunksize=options.part_size,
        max_concurrency=options.concurrency,
    )
    out = Path(path + ".out")
    start = time.perf_counter()
    if case == "upload: single put_object":
        with open(path, "rb") as body:
            client.put_object(Bucket=bucket, Key="single/blob", Body=body)
    elif case == "upload: ocift multipart":
        store.upload_file(Path(path), "blob")
    elif case == "download: single get_object":
        body = client.get_object(Bucket=bucket, Key="single/blob")["Body"]
        with open(out, "wb") as handle:
            for chunk in body.iter_chunks(MiB):
                handle.write(chunk)
    elif case == "upload: boto3 multipart, no hashing":
        client.upload_file(path, bucket, "plain/blob", Config=parts)
    elif case == "download: boto3 ranges, no verify":
        client.download_file(bucket, "plain/blob", str(out), Config=parts)
    elif case == "hash: sha256 (part of ocift)":
        from launcher.storage.base import file_hash

        file_hash(Path(path), "sha256")
    else:
        store.download_file("blob", out)
    seconds = time.perf_counter() - start
    out.unlink(missing_ok=True)
    queue.put((seconds, _peak_rss_mb()))


def _peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM): ru_maxrss would include the parent's before exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_storage(sizes_mb: list[int], repeat: int) -> list[Row]:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    rows: list[Row] = []
    context = multiprocessing.get_context("spawn")
    try:
        for size in sizes_mb:
            bucket = f"bench-{size}"
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "blob")
                with open(path, "wb") as handle:
                    for _ in range(size):
                        handle.write(os.urandom(MiB))
                for case in CASES:
                    runs = [_run_case(context, endpoint, bucket, case, path) for _ in range(repeat)]
                    times = sorted(seconds for seconds, _ in runs)
                    row = Row(
                        "storage (moto S3, 127.0.0.1)",
                        case,
                        size,
                        statistics.median(times),
                        times[0],
                        max(peak for _, peak in runs),
                    )
                    rows.append(row)
                    print(f"  {case:<36} {size:>5} MB  {row.mb_per_s:8.1f} MB/s", flush=True)
    finally:
        server.stop()
    return rows


def _run_case(context, endpoint: str, bucket: str, case: str, path: str) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one case in a fresh process."""
    queue = context.Queue()
    child = context.Process(target=_storage_case, args=(endpoint, bucket, case, path, queue))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"{case} failed with exit code {child.exitcode}")
    return queue.get(timeout=10)


CHILD = "tests.launcher.child"  # real torch.distributed: init, all_reduce, write rank-<r>.json


def _formed_at(out: Path, world: int) -> float:
    """When the last rank finished its all_reduce (its record's mtime)."""
    records = sorted(out.glob("rank-*.json"))
    if len(records) != world:
        raise RuntimeError(f"{len(records)} of {world} ranks formed the cluster in {out}")
    return max(r.stat().st_mtime for r in records)


def _ours(nodes: int, tmp: Path) -> float:
    env = {**os.environ, "OCIFT_TRAIN_MODULE": CHILD, "PYTHONPATH": str(_ROOT), "OCIFT_CLUSTER_TIMEOUT_S": "120"}
    out = tmp / "out"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ocift.cli",
            "local",
            "--nnodes",
            str(nodes),
            "--work-dir",
            str(tmp),
            "--",
            "--output_dir",
            str(out),
        ],
        env=env,
        check=True,
        capture_output=True,
        cwd=_ROOT,
    )
    last_node_seen = (tmp / "cluster-nodes.json").stat().st_mtime
    return _formed_at(out, nodes) - last_node_seen


def _plain_torchrun(nodes: int, tmp: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    out = tmp / "out"
    port = str(29400 + os.getpid() % 1000)
    start = time.time()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                str(nodes),
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(rank),
                "--rdzv-backend",
                "static",
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                port,
                "-m",
                CHILD,
                "--output_dir",
                str(out),
            ],
            env=env,
            cwd=_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for rank in range(nodes)
    ]
    if any(p.wait(timeout=300) for p in procs):
        raise RuntimeError("plain torchrun failed")
    return _formed_at(out, nodes) - start


def bench_cluster(nodes: int, repeat: int) -> list[Row]:
    rows = []
    for case, run in (
        ("plain torchrun, addresses known", _plain_torchrun),
        ("ocift: from the last node in the metadata file", _ours),
    ):
        times = []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                times.append(run(nodes, Path(tmp)))
        times.sort()
        rows.append(
            Row(
                f"cluster formation ({nodes} nodes x 1 process, gloo)",
                case,
                0,
                statistics.median(times),
                times[0],
                float("nan"),
            )
        )
        print(f"  {case:<48} {statistics.median(times):6.2f} s", flush=True)
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | case | size (MB) | wall median (s) | wall best (s) | MB/s (median) | peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.benchmark} | {r.case} | {r.size_mb} | {r.seconds:.2f} | {r.best_s:.2f} | {r.mb_per_s:.1f} "
        f"| {r.peak_rss_mb:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def append_results(title: str, text: str) -> None:
    """Append a dated section; others append too, so never rewrite what is there."""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by the scripts in bench/; newest last.\n")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(RESULTS, "a") as handle:
        handle.write(f"\n## {title} ({stamp})\n\nMachine: {machine()}\n\n{text}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64,256", help="file sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median and best are reported)")
    parser.add_argument("--nodes", type=int, default=2, help="simulated nodes for cluster formation")
    parser.add_argument("--only", choices=("storage", "cluster"), help="run one benchmark")
    parser.add_argument("--no-append", action="store_true", help="print only; leave bench/RESULTS.md alone")
    opts = parser.parse_args()
    if opts.only != "cluster":
        rows = bench_storage([int(s) for s in opts.sizes.split(",")], opts.repeat)
        text = table(rows) + (
            "\n\nOurs: 16 MiB parts, 8 at a time, sha256 computed before upload and verified after download "
            "(included in the time); baseline: one request, no hashing. Client and an in-memory Python S3 server "
            "share this machine's cores (and other jobs), so parallel parts cannot show the gain they give against a "
            "real object store, where one stream is bandwidth-limited; read these as overhead, not as a speed-up. "
            "The boto3 rows are the transport alone (same parts, no hashing): the gap to the ocift rows is our "
            "integrity cost (sha256 + one HEAD), the gap to the single-stream rows is moto's per-part cost."
        )
        _report("launcher: storage transfers", text, opts.no_append)
    if opts.only != "storage":
        rows = bench_cluster(opts.nodes, opts.repeat)
        text = "\n".join(
            ["| benchmark | case | median (s) | best (s) |", "|---|---|---:|---:|"]
            + [f"| {r.benchmark} | {r.case} | {r.seconds:.2f} | {r.best_s:.2f} |" for r in rows]
        ) + (
            "\n\nBoth include starting Python and importing torch in the training processes; ours counts from "
            "the moment the metadata file lists the last node (the launchers were already waiting), the baseline "
            "from starting torchrun with every address given."
        )
        _report("launcher: cluster formation", text, opts.no_append)


def _report(title: str, text: str, no_append: bool) -> None:
    print(f"\nMachine: {machine()}\n\n{text}")
    if not no_append:
        append_results(title, text)


if __name__ == "__main__":
    main()
