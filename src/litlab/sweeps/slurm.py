"""``hydra/launcher=slurm``: hydra-submitit-launcher's SLURM launcher, sized from the run and
never waiting for a job that cannot start.

- ``tasks_per_node``, ``gpus_per_node`` and ``cpus_per_task`` set to ``auto`` (the default) come
  from the sweep's config: one task per device under a strategy SLURM starts (``ddp``), else one;
  GPUs only when ``trainer.accelerator`` is ``gpu``/``cuda``; a CPU for each process of a task and
  each of its ``data.num_workers``. A number keeps that number.
- A job the cluster can never start (pending for a reason that does not clear, e.g.
  ``PartitionConfig``: more CPUs than a node has) ends the sweep with one ``error:`` line naming
  the request, and the sweep's jobs are cancelled; so does a request ``sbatch`` refuses.

No torch here: Hydra imports the launcher's plugin for ``--help``.
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _Slurm
from omegaconf import DictConfig, OmegaConf

from litlab.errors import UserError, exit_for_user_error

log = logging.getLogger(__name__)

AUTO = "auto"
SIZED = ("tasks_per_node", "gpus_per_node", "cpus_per_task")
GPU_ACCELERATORS = ("gpu", "cuda")
# Pending reasons SLURM gives for a request no node or limit of the partition can ever meet
# (squeue's REASON; "Resources" and "Priority" clear as other jobs end, ReqNodeNotAvail when a
# node comes back, so those are waited for).
NEVER = re.compile(
    r"^(PartitionConfig|PartitionNodeLimit|PartitionTimeLimit|BadConstraints|InvalidAccount"
    r"|InvalidQOS|QOSMax\w*PerJob\w*|AssocMax\w*PerJob\w*)$"
)
POLL_S = 1.0  # seconds between looks at the jobs' results; squeue every SQUEUE_S
SQUEUE_S = 3.0


@dataclass
class LitlabSlurmConf(SlurmQueueConf):
    """submitit_slurm's options, with the three sizes ``auto`` unless given as numbers."""

    _target_: str = "hydra_plugins.litlab_slurm.SlurmLauncher"
    tasks_per_node: Any = AUTO
    gpus_per_node: Any = AUTO
    cpus_per_task: Any = AUTO


def _count(value: Any) -> int | None:
    """``trainer.devices`` as a number of devices, or None when it is not one (auto, -1, a list
    of device ids counts its ids)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return len(value)
    return None


def sizes(config: DictConfig, given: dict[str, Any]) -> dict[str, int | None]:
    """``tasks_per_node``, ``gpus_per_node``, ``cpus_per_task`` for the run in ``config``; the
    ``given`` ones that are not ``auto`` are kept. Raises UserError when the run does not say."""
    trainer = config.get("trainer") or {}
    accelerator = str(trainer.get("accelerator", "cpu")).lower()
    strategy = str(trainer.get("strategy", "auto")).lower()
    wanted = [key for key in SIZED if str(given.get(key)).lower() == AUTO]
    devices = _count(trainer.get("devices", 1))
    if devices is None and wanted:
        raise UserError(
            f"hydra/launcher=slurm sizes each job from trainer.devices, which is "
            f"{trainer.get('devices')!r}: set trainer.devices=<n>, or "
            f"{' '.join(f'hydra.launcher.{key}=<n>' for key in wanted)}"
        )
    srun_starts = strategy.startswith("ddp") and "spawn" not in strategy
    tasks = devices if srun_starts else 1
    out = {key: given.get(key) for key in SIZED}
    if "tasks_per_node" in wanted:
        out["tasks_per_node"] = tasks
    tasks = int(out["tasks_per_node"] or 1)
    if "gpus_per_node" in wanted:
        out["gpus_per_node"] = devices if accelerator in GPU_ACCELERATORS else None
    if "cpus_per_task" in wanted:
        per_task = max(1, (devices or 1) // tasks)  # the processes a spawn strategy starts
        workers = int((config.get("data") or {}).get("num_workers", 0) or 0)
        out["cpus_per_task"] = per_task * (1 + workers)
    return out


def squeue(job_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{job id: (state, reason)}`` of the jobs SLURM still lists (array tasks by their id)."""
    ids = sorted({job_id.split("_")[0] for job_id in job_ids})
    command = ["squeue", "-h", "-t", "all", "-r", "-o", "%i|%T|%r", "-j", ",".join(ids)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    jobs = {}
    for line in result.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            jobs[parts[0]] = (parts[1], parts[2])
    return jobs


def partition_nodes(partition: str | None) -> str:
    """What the partition's nodes offer, as sinfo says it (for the error line)."""
    args = ["sinfo", "-h", "-o", "%P %D nodes, %c CPUs, %m MB, gres %G"]
    result = subprocess.run([*args, *(["-p", partition] if partition else [])],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not partition:  # the default partition is marked with a *
        lines = [line for line in lines if line.split()[0].endswith("*")] or lines
    return "; ".join(lines) or "unknown"


class SlurmLauncher(_Slurm):
    """submitit's SLURM launcher with the sizes from the run and a fast end to impossible jobs."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """The plugin's launch (one job array for the batch), sized and watched."""
        import submitit  # lazily, as the plugin does: --help stays fast

        assert self.config is not None
        try:
            self.params.update(sizes(self.config, self.params))
        except UserError as error:
            exit_for_user_error(error)
        request = ", ".join(f"{key}={self.params.get(key)}" for key in ("nodes", *SIZED))
        init_keys = {"submitit_folder", "max_num_timeout"}
        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params["max_num_timeout"],
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{
            key if key in base else f"slurm_{key}": value
            for key, value in self.params.items() if key not in init_keys
        })  # fmt: skip
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info("SLURM sweep folder %s; each job asks %s", sweep_dir, request)
        job_params = []
        for number, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
            job_params.append((list(overrides), "hydra.sweep.dir", number,
                               f"job_id_for_{number}", Singleton.get_state()))  # fmt: skip
        try:
            jobs = executor.map_array(self, *zip(*job_params, strict=True))
        except submitit.core.utils.FailedJobError as error:  # sbatch refused the request
            lines = str(error).strip().splitlines()
            exit_for_user_error(
                UserError(
                    f"sbatch refused the sweep's jobs ({request}): {lines[-1] if lines else error}"
                )
            )
        self.wait_startable(jobs, request)
        return [job.results()[0] for job in jobs]

    def wait_startable(self, jobs: Sequence[Any], request: str) -> None:
        """Wait for the jobs to end; cancel them all and exit with one error line as soon as one
        is pending for a reason that never clears."""
        last_squeue = 0.0
        while not all(job.paths.result_pickle.exists() for job in jobs):
            if time.monotonic() - last_squeue >= SQUEUE_S:
                last_squeue = time.monotonic()
                listed = squeue([job.job_id for job in jobs])
                for number, job in enumerate(jobs):
                    state, reason = listed.get(job.job_id, ("", ""))
                    if state == "PENDING" and NEVER.match(reason):
                        self.cancel(jobs)
                        partition = self.params.get("partition")
                        exit_for_user_error(
                            UserError(
                                f"SLURM job {job.job_id} (sweep job {number}) can never start: "
                                f"pending for {reason} with {request}; the partition has "
                                f"{partition_nodes(partition)}. Ask for less (e.g. "
                                f"hydra.launcher.cpus_per_task=<n>); the sweep's jobs are cancelled"
                            )
                        )
                    if state and state not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING",
                                               "REQUEUED", "RESIZING", "SUSPENDED") \
                            and not job.paths.result_pickle.exists():  # fmt: skip
                        return  # ended without a result: submitit's results() says how
            time.sleep(POLL_S)

    @staticmethod
    def cancel(jobs: Sequence[Any]) -> None:
        for job in jobs:
            try:
                job.cancel(check=False)
            except Exception:  # noqa: BLE001 - cancelling is best effort before the error line
                log.warning("could not cancel SLURM job %s", job.job_id)
