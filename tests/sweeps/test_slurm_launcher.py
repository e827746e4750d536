"""``hydra/launcher=slurm`` sizes each job from the run (litlab.sweeps.slurm): no cluster needed."""

from __future__ import annotations

import pytest

from litlab.errors import UserError
from litlab.sweeps.slurm import NEVER, sizes
from tests.conftest import compose_config

AUTO = {"tasks_per_node": "auto", "gpus_per_node": "auto", "cpus_per_task": "auto"}


def launcher_sizes(*overrides: str) -> dict:
    cfg = compose_config(["hydra/launcher=slurm", *overrides])
    given = {key: cfg.hydra.launcher[key] for key in AUTO}
    return sizes(cfg, given)


def test_a_cpu_run_asks_one_task_one_cpu_and_no_gpu():
    assert launcher_sizes("experiment=polynomial") == {
        "tasks_per_node": 1, "gpus_per_node": None, "cpus_per_task": 1}  # fmt: skip


def test_gpus_only_for_a_gpu_accelerator_and_tasks_for_srun_started_ddp():
    assert launcher_sizes("trainer=ddp", "trainer.strategy=ddp", "trainer.accelerator=gpu",
                          "trainer.devices=4") == {
        "tasks_per_node": 4, "gpus_per_node": 4, "cpus_per_task": 1}  # fmt: skip
    # ddp_spawn starts its processes itself: one task with a CPU for each
    assert launcher_sizes("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2") == {
        "tasks_per_node": 1, "gpus_per_node": None, "cpus_per_task": 2}  # fmt: skip
    assert launcher_sizes("data.num_workers=3", "data.preload=false")["cpus_per_task"] == 4


def test_numbers_given_are_kept_and_auto_devices_is_refused_naming_the_key():
    cfg = compose_config(["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=6"])
    assert sizes(cfg, {**AUTO, "cpus_per_task": 6})["cpus_per_task"] == 6
    with pytest.raises(UserError, match=r"trainer.devices, which is 'auto'"):
        launcher_sizes("trainer=ddp")


def test_only_pending_reasons_that_never_clear_end_a_sweep():
    for reason in ("PartitionConfig", "PartitionNodeLimit", "QOSMaxCpuPerJobLimit"):
        assert NEVER.match(reason)
    for reason in ("Resources", "Priority", "BeginTime", "ReqNodeNotAvail", "None"):
        assert not NEVER.match(reason)
