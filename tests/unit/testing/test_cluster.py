"""The Aurora-like cluster without a server: at most 15 readers, as Aurora.

Real replicas, Aurora's topology functions, endpoints and failover:
tests/integration/testing/test_cluster.py.
"""

from __future__ import annotations

import pytest

from aurora_ssl.testing import AuroraLikeCluster


def test_a_cluster_has_at_most_15_readers() -> None:
    with pytest.raises(ValueError, match="0 to 15 readers"):
        AuroraLikeCluster(readers=16)
