"""Topology discovery against real files written the way the service writes them."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import namedtuple
from pathlib import Path

import pytest

from launcher import cluster
from launcher.cluster import ClusterError, ClusterTimeout, ClusterTopology
from ocift.local import write_metadata_gradually

Addr = namedtuple("Addr", "family address netmask broadcast ptp")


def nodes(n: int) -> str:
    return json.dumps([{"Rank": r, "IPAddress": f"10.0.0.{r + 10}"} for r in range(n)])


def oci_env(path: Path, rank: int, size: int) -> dict[str, str]:
    return {"NODE_RANK": str(rank), "INITIAL_CLUSTER_SIZE": str(size), "CLUSTER_NODES_METADATA_FILE": str(path)}


def test_metadata_written_late_and_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    stop = threading.Event()
    writer = threading.Thread(target=write_metadata_gradually, args=(path, 3, stop, 0.3, 0.2))
    writer.start()
    try:
        topo = cluster.discover(oci_env(path, 2, 3), rdzv_port=29400, timeout_s=10)
    finally:
        stop.set()
        writer.join()
    assert topo == ClusterTopology(3, 2, "127.0.0.3", "127.0.0.1", 29400, "oci-multi-node")


def test_missing_rank_times_out_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps([{"Rank": 0, "IPAddress": "10.0.0.1"}, {"Rank": 2, "IPAddress": "10.0.0.3"}]))
    started = time.monotonic()
    with pytest.raises(ClusterTimeout) as err:
        cluster.discover(oci_env(path, 0, 3), rdzv_port=29400, timeout_s=1.0)
    assert time.monotonic() - started < 2.0
    message = str(err.value)
    assert "rank(s) 1 of 3" in message and "rank 0 at 10.0.0.1, rank 2 at 10.0.0.3" in message
    assert str(path) in message


def test_file_that_never_appears(tmp_path: Path) -> None:
    with pytest.raises(ClusterTimeout, match=r"rank\(s\) 0, 1 of 2 .* the file never appeared"):
        cluster.discover(oci_env(tmp_path / "absent.json", 0, 2), rdzv_port=29400, timeout_s=0.5)


def test_half_written_forever_reports_the_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    path.write_text(nodes(2)[:25])
    with pytest.raises(ClusterTimeout, match="not valid JSON yet"):
        cluster.discover(oci_env(path, 0, 2), rdzv_port=29400, timeout_s=0.5)


def test_unreadable_metadata_path(tmp_path: Path) -> None:
    with pytest.raises(ClusterTimeout, match="unreadable"):
        cluster.discover(oci_env(tmp_path, 0, 2), rdzv_port=29400, timeout_s=0.5)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"Rank": 0}', "expected a JSON array"),
        ('[{"Rank": 0}]', "entry 0 lacks Rank or IPAddress"),
        ('[{"Rank": 0, "IPAddress": "node-0.local"}]', "rank 0 IPAddress: 'node-0.local' is not an IP address"),
        ('[{"Rank": 7, "IPAddress": "10.0.0.1"}]', "Rank=7 is out of range 0..1"),
        ('[{"Rank": true, "IPAddress": "10.0.0.1"}]', "not an integer"),
        (
            '[{"Rank": 0, "IPAddress": "10.0.0.1"}, {"Rank": 0, "IPAddress": "10.0.0.2"}]',
            "rank 0 listed twice, at 10.0.0.1 and 10.0.0.2",
        ),
    ],
)
def test_wrong_metadata_fails_at_once(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "nodes.json"
    path.write_text(content)
    started = time.monotonic()
    with pytest.raises(ClusterError, match=message) as err:
        cluster.discover(oci_env(path, 0, 2), rdzv_port=29400, timeout_s=30)
    assert not isinstance(err.value, ClusterTimeout)
    assert time.monotonic() - started < 1.0


def test_string_ranks_and_repeated_entries_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    path.write_text(
        json.dumps(
            [
                {"Rank": "1", "IPAddress": "10.0.0.2", "Extra": 1},
                {"Rank": 0, "IPAddress": "10.0.0.1"},
                {"Rank": 0, "IPAddress": "10.0.0.1"},
            ]
        )
    )
    topo = cluster.discover(oci_env(path, 1, 2), rdzv_port=29500, timeout_s=1)
    assert (topo.node_addr, topo.master_addr, topo.master_port) == ("10.0.0.2", "10.0.0.1", 29500)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"NODE_RANK": "2", "INITIAL_CLUSTER_SIZE": "2", "CLUSTER_NODES_METADATA_FILE": "/x"},
            r"NODE_RANK=2 is out of range 0..1 \(INITIAL_CLUSTER_SIZE=2\)",
        ),
        ({"NODE_RANK": "-1", "INITIAL_CLUSTER_SIZE": "2", "CLUSTER_NODES_METADATA_FILE": "/x"}, "NODE_RANK=-1"),
        (
            {"NODE_RANK": "0", "INITIAL_CLUSTER_SIZE": "two", "CLUSTER_NODES_METADATA_FILE": "/x"},
            "INITIAL_CLUSTER_SIZE='two' is not an integer",
        ),
        ({"NODE_RANK": "0", "INITIAL_CLUSTER_SIZE": "0", "CLUSTER_NODES_METADATA_FILE": "/x"}, "at least one node"),
        ({"INITIAL_CLUSTER_SIZE": "2"}, "NODE_RANK, CLUSTER_NODES_METADATA_FILE not set"),
        ({"NNODES": "2", "NODE_RANK": "1"}, "needs MASTER_ADDR"),
        ({"NODE_RANK": "1"}, r"NODE_RANK=1 is out of range 0..0 \(NNODES=1\)"),
        ({"NNODES": "2", "NODE_RANK": "2", "MASTER_ADDR": "10.0.0.1"}, "NODE_RANK=2 is out of range"),
        ({"MASTER_ADDR": "head-node"}, "MASTER_ADDR: 'head-node' is not an IP address"),
        ({"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "70000"}, "MASTER_PORT=70000"),
    ],
)
def test_bad_variables_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ClusterError, match=message):
        cluster.discover(env, rdzv_port=29400, timeout_s=0.2)


def test_explicit_variables() -> None:
    topo = cluster.discover(
        {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29555"},
        rdzv_port=29400,
        timeout_s=1,
    )
    # No NODE_ADDR: the address on the route to rank 0, found without sending anything.
    assert topo == ClusterTopology(2, 1, "127.0.0.1", "127.0.0.1", 29555, "env")
    topo = cluster.discover(
        {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "127.0.0.1", "NODE_ADDR": "127.0.0.2"},
        rdzv_port=29400,
        timeout_s=1,
    )
    assert (topo.node_addr, topo.master_port) == ("127.0.0.2", 29400)


def test_single_node() -> None:
    assert cluster.discover({}, rdzv_port=29401, timeout_s=1) == ClusterTopology(
        1, 0, "127.0.0.1", "127.0.0.1", 29401, "single-node"
    )


def test_interface_selection() -> None:
    table = {
        "lo": [Addr(socket.AF_INET, "127.0.0.1", "255.0.0.0", None, None)],
        "ens3": [
            Addr(socket.AF_INET, "10.0.1.5", "255.255.255.0", None, None),
            Addr(socket.AF_INET6, "fe80::1%ens3", "ffff:ffff:ffff:ffff::", None, None),
        ],
        "ens5": [Addr(socket.AF_INET, "10.0.2.9", "255.255.0.0", None, None)],
        "docker0": [Addr(socket.AF_INET, "10.0.2.7", "255.255.255.255", None, None)],
    }
    assert cluster.interface_for("10.0.1.5", table) == "ens3"
    assert cluster.interface_for("10.0.2.7", table) == "docker0"  # exact address beats a containing network
    assert cluster.interface_for("127.0.0.2", table) == "lo"
    assert cluster.interface_for("fe80::1", table) == "ens3"
    assert cluster.interface_for("192.168.0.1", table) is None


def test_interface_env_on_this_host_respects_user_values() -> None:
    topo = ClusterTopology(2, 1, "127.0.0.2", "127.0.0.1", 29400, "oci-multi-node")
    assert cluster.interface_for("127.0.0.2") == "lo"  # real psutil table
    assert cluster.socket_ifname_env(topo, {}) == {"NCCL_SOCKET_IFNAME": "lo", "GLOO_SOCKET_IFNAME": "lo"}
    assert cluster.socket_ifname_env(topo, {"NCCL_SOCKET_IFNAME": "ens3"}) == {"GLOO_SOCKET_IFNAME": "lo"}
    assert cluster.socket_ifname_env(topo, {"NCCL_SOCKET_IFNAME": "a", "GLOO_SOCKET_IFNAME": "b"}) == {}
