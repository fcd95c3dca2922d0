"""Start-up skew: one node starts tens of seconds after the other (its image pulled slowly, its
staging took longer). The first waits, within the cluster deadline, and the job forms and runs.
(A node that never comes is reported by rank with status 75 within the deadline:
tests/launcher/test_entrypoint.py::test_a_listed_peer_that_never_joins_fails_the_rendezvous.)"""

from __future__ import annotations

import json
import time

import pytest

from tests.faults.cluster import Cluster, events, tail, wait_all

pytestmark = pytest.mark.slow

SKEW_S = 20.0


def test_a_node_starting_late_still_joins(cluster: Cluster) -> None:
    began = time.monotonic()
    nodes = cluster.launch(
        ["--num_epochs", "1"],
        delays={1: SKEW_S},
        env={"OCIFT_TRAIN_MODULE": "tests.launcher.child", "OCIFT_CLUSTER_TIMEOUT_S": "60"},
    )
    assert time.monotonic() - began >= SKEW_S
    assert nodes[0].proc.poll() is None, f"node 0 gave up before node 1 started\n{tail(nodes[0].output)}"
    assert wait_all(nodes, 120) == [0, 0], tail(nodes[0].output) + tail(nodes[1].output)
    for node in nodes:
        record = json.loads((node.local_out / f"rank-{node.rank}.json").read_text())
        assert record == {"rank": node.rank, "world_size": 2, "node_rank": node.rank, "sum": 1}
    # Node 1 was not yet answering heartbeats while node 0 waited: that is starting, not lost.
    assert not events(nodes[0].output, "peer_lost") and events(nodes[0].output, "peer_seen")
