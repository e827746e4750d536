"""The engines of the ``cluster`` tests, each brought up once per session (tests/engines/).

Where a binary is missing they skip, saying what to install, except under CI (``CI`` set): there
they must run, so the fixture fails instead."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines import slurm


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI runs the cluster tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[slurm.Cluster]:
    """A one-node SLURM on loopback; ``SLURM_CONF`` points this process (and what it starts:
    sbatch, submitit, train.py) at it while the session lasts."""
    missing = slurm.missing()
    if missing:
        _unavailable(f"no {', '.join(missing)}: {slurm.INSTALL}")
    if os.geteuid() != 0:
        _unavailable("the test SLURM runs its daemons as root (SlurmUser=root)")
    with tempfile.TemporaryDirectory(prefix="litlab-slurm-") as folder:
        cluster = slurm.Cluster(Path(folder))
        cluster.up()
        before = os.environ.get("SLURM_CONF")
        os.environ.update(cluster.env)
        try:
            yield cluster
        finally:
            cluster.down()
            if before is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = before
