"""Cluster formation: how one replica learns who its peers are.

This module owns every assumption about how OCI describes a multi-node job run, so a
corrected fact about the service changes this file only. The topology comes from, in order:

1. an OCI Data Science multi-node job run: `NODE_RANK`, `INITIAL_CLUSTER_SIZE` and
   `CLUSTER_NODES_METADATA_FILE`, a JSON array of `{"Rank": int, "IPAddress": str}` that the
   service writes late and in pieces, so it is polled until it lists every rank;
2. explicit settings, as other launchers use them: `NNODES`, `NODE_RANK`, `MASTER_ADDR`,
   `MASTER_PORT` and `NODE_ADDR` (this node's address);
3. a single node.

Every wait has a deadline (`cluster_timeout_s`): a peer that never shows up is reported by
rank, with what was seen, instead of hanging. Addresses are always IPs, because job-run
hostnames do not resolve across nodes.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Variables the service sets in a multi-node job run.
OCI_VARS = ("NODE_RANK", "INITIAL_CLUSTER_SIZE", "CLUSTER_NODES_METADATA_FILE")
#: Variables the collective libraries read to choose a network interface.
IFNAME_VARS = ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")
POLL_INTERVAL_S = 0.25


class ClusterError(RuntimeError):
    """The cluster cannot be formed: bad input, naming the variable or file at fault."""


class ClusterTimeout(ClusterError):
    """Peers did not appear before the deadline; the message names the missing ranks."""


@dataclass(frozen=True)
class ClusterTopology:
    """Where this node sits in the job: enough to start torchrun with static rendezvous."""

    nnodes: int
    node_rank: int
    node_addr: str
    master_addr: str
    master_port: int
    source: str  # "oci-multi-node", "env" or "single-node"
    #: Every node's address in rank order, when known (the metadata file lists them): for heartbeats.
    addrs: tuple[str, ...] = field(default=(), compare=False)

    def fields(self) -> dict[str, Any]:
        """For log lines."""
        return {
            "nnodes": self.nnodes,
            "node_rank": self.node_rank,
            "node_addr": self.node_addr,
            "master": f"{self.master_addr}:{self.master_port}",
            "source": self.source,
        }


def discover(environ: Mapping[str, str], rdzv_port: int, timeout_s: float) -> ClusterTopology:
    """The topology from an OCI multi-node job run, else explicit variables, else one node."""
    if any(name in environ for name in OCI_VARS[1:]):
        return _from_oci(environ, rdzv_port, timeout_s)
    if any(name in environ for name in ("NNODES", "NODE_RANK", "MASTER_ADDR")):
        return _from_explicit(environ, rdzv_port)
    return ClusterTopology(1, 0, "127.0.0.1", "127.0.0.1", rdzv_port, "single-node")


def _int_var(environ: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = environ.get(name)
    if raw is None:
        if default is None:
            raise ClusterError(f"{name} is not set")
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise ClusterError(f"{name}={raw!r} is not an integer") from None


def _ip(value: object, what: str) -> str:
    """A canonical IP address, or a ClusterError naming `what` (hostnames are refused:
    they do not resolve across job-run nodes)."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ClusterError(f"{what}: {value!r} is not an IP address") from None


def _check_rank(rank: int, nnodes: int, what: str, size_name: str) -> None:
    if nnodes < 1:
        raise ClusterError(f"{size_name}={nnodes}: a cluster needs at least one node")
    if not 0 <= rank < nnodes:
        raise ClusterError(f"{what}={rank} is out of range 0..{nnodes - 1} ({size_name}={nnodes})")


def _from_oci(environ: Mapping[str, str], rdzv_port: int, timeout_s: float) -> ClusterTopology:
    missing = [name for name in OCI_VARS if not environ.get(name)]
    if missing:
        raise ClusterError(f"multi-node job run, but {', '.join(missing)} not set")
    nnodes = _int_var(environ, "INITIAL_CLUSTER_SIZE")
    rank = _int_var(environ, "NODE_RANK")
    _check_rank(rank, nnodes, "NODE_RANK", "INITIAL_CLUSTER_SIZE")
    path = Path(environ["CLUSTER_NODES_METADATA_FILE"])
    addrs = wait_for_nodes(path, nnodes, timeout_s)
    return ClusterTopology(nnodes, rank, addrs[rank], addrs[0], rdzv_port, "oci-multi-node", tuple(addrs))


def _from_explicit(environ: Mapping[str, str], rdzv_port: int) -> ClusterTopology:
    nnodes = _int_var(environ, "NNODES", 1)
    rank = _int_var(environ, "NODE_RANK", 0)
    _check_rank(rank, nnodes, "NODE_RANK", "NNODES")
    if "MASTER_ADDR" not in environ and nnodes > 1:
        raise ClusterError(f"NNODES={nnodes} needs MASTER_ADDR (the IP of the node with NODE_RANK=0)")
    master = _ip(environ.get("MASTER_ADDR", "127.0.0.1"), "MASTER_ADDR")
    port = _int_var(environ, "MASTER_PORT", rdzv_port)
    if not 1 <= port <= 65535:
        raise ClusterError(f"MASTER_PORT={port} is not a TCP port")
    if "NODE_ADDR" in environ:
        addr = _ip(environ["NODE_ADDR"], "NODE_ADDR")
    else:
        addr = master if rank == 0 else route_source(master)
    return ClusterTopology(nnodes, rank, addr, master, port, "env")


def route_source(peer: str) -> str:
    """This host's address on the route to `peer` (a UDP connect sends no packet)."""
    family = socket.AF_INET6 if ipaddress.ip_address(peer).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((peer, 9))
        except OSError as exc:
            raise ClusterError(f"no route to MASTER_ADDR {peer} ({exc}); set NODE_ADDR") from None
        return probe.getsockname()[0]


# ---- the metadata file ----------------------------------------------------------------


def parse_metadata(text: str, nnodes: int, path: Path) -> dict[int, str]:
    """Rank -> IP from the file's text.

    Raises ValueError when the text is not (yet) JSON: a half-written file, to read again.
    Raises ClusterError when it is JSON but wrong (not a list, bad rank, bad IP, one rank
    with two addresses): the service would not fix that by writing more.
    """
    data = json.loads(text)
    where = f"CLUSTER_NODES_METADATA_FILE {path}"
    if not isinstance(data, list):
        raise ClusterError(f"{where}: expected a JSON array of nodes, got {type(data).__name__}")
    nodes: dict[int, str] = {}
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or "Rank" not in entry or "IPAddress" not in entry:
            raise ClusterError(f"{where}: entry {index} lacks Rank or IPAddress: {entry!r}")
        rank = entry["Rank"]
        if isinstance(rank, str) and rank.strip().isdigit():
            rank = int(rank)
        if not isinstance(rank, int) or isinstance(rank, bool):
            raise ClusterError(f"{where}: entry {index} has Rank {rank!r}, not an integer")
        _check_rank(rank, nnodes, f"{where}: entry {index} Rank", "INITIAL_CLUSTER_SIZE")
        addr = _ip(entry["IPAddress"], f"{where}: rank {rank} IPAddress")
        if nodes.get(rank, addr) != addr:
            raise ClusterError(f"{where}: rank {rank} listed twice, at {nodes[rank]} and {addr}")
        nodes[rank] = addr
    return nodes


def wait_for_nodes(path: Path, nnodes: int, timeout_s: float) -> list[str]:
    """Poll the metadata file until it lists every rank; their IPs, in rank order.

    A missing, empty or half-written file is read again until the deadline; the timeout
    error names the missing ranks and the last thing seen.
    """
    deadline = time.monotonic() + timeout_s
    seen: dict[int, str] = {}
    problem = "the file never appeared"
    while True:
        try:
            text = path.read_text()
        except FileNotFoundError:
            problem = "the file never appeared" if not seen else problem
        except OSError as exc:
            problem = f"unreadable: {exc.strerror or exc}"
        else:
            try:
                seen = parse_metadata(text, nnodes, path)
                problem = ""
            except ValueError as exc:
                problem = "empty" if not text.strip() else f"not valid JSON yet ({exc})"
        if len(seen) == nnodes:
            return [seen[r] for r in range(nnodes)]
        if time.monotonic() >= deadline:
            raise ClusterTimeout(_timeout_message(path, nnodes, timeout_s, seen, problem))
        time.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))


def _timeout_message(path: Path, nnodes: int, timeout_s: float, seen: dict[int, str], problem: str) -> str:
    missing = [r for r in range(nnodes) if r not in seen]
    listed = ", ".join(f"rank {r} at {seen[r]}" for r in sorted(seen)) or "no nodes"
    text = (
        f"timed out after {timeout_s:g}s waiting for rank(s) {', '.join(map(str, missing))} "
        f"of {nnodes} in CLUSTER_NODES_METADATA_FILE {path}; seen: {listed}"
    )
    return text + (f"; last read: {problem}" if problem else "")


# ---- network interface ------------------------------------------------------------------


def interface_for(addr: str, interfaces: Mapping[str, list[Any]] | None = None) -> str | None:
    """The name of the interface that carries `addr`.

    An exact address match wins; otherwise the interface whose network contains it (127.0.0.2
    lives on `lo`, whose address is 127.0.0.1/8). `interfaces` is `psutil.net_if_addrs()`.
    """
    if interfaces is None:
        import psutil

        interfaces = psutil.net_if_addrs()
    target = ipaddress.ip_address(addr)
    containing = None
    for name, entries in interfaces.items():
        for entry in entries:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                own = ipaddress.ip_address(entry.address.split("%")[0])
            except ValueError:
                continue
            if own == target:
                return name
            if containing is None and entry.netmask and own.version == target.version:
                network = ipaddress.ip_network(f"{own}/{entry.netmask}", strict=False)
                if target in network:
                    containing = name
    return containing


def socket_ifname_env(topology: ClusterTopology, environ: Mapping[str, str]) -> dict[str, str]:
    """`NCCL_SOCKET_IFNAME`/`GLOO_SOCKET_IFNAME` for the interface carrying this node's IP,
    leaving any value the user or the service already set. Empty when none is found."""
    unset = [name for name in IFNAME_VARS if not environ.get(name)]
    if not unset:
        return {}
    name = interface_for(topology.node_addr)
    return {var: name for var in unset} if name else {}
