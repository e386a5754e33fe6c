"""Dispatch fixtures. The single-node Slurm cluster (session-scoped, started by the project's own
scripts/slurm/slurm_up.sh, stopped by pid) lives in slurm_cluster.py; the Kubernetes API
emulator in k8s_emulator.py."""

from __future__ import annotations

import pytest

from .slurm_cluster import slurm_cluster  # noqa: F401 - session fixture


@pytest.fixture
def local_cluster(db, reference_data, actor_context, tmp_path, settings):
    from .factories import make_cluster

    settings.GOVHUB_LOCAL_RUNNER_DIR = tmp_path / "local-jobs"
    return make_cluster("local-test", "local")
