"""Which process of a multi-process run writes the run folder: global rank 0, known from the
environment before Hydra makes any folder.

Every process of a run on several nodes runs Hydra on its own (one process per node, each
started by torchrun, by hand with Lightning's variables, or as a SLURM task), and each would
make a run folder of its own (its own ``${now:...}``). The resolvers here let
``conf/hydra/default.yaml`` send the others elsewhere: their job log (train.log, with what they
print) into a folder of their own beside the run, named after the rank (``<run folder
name>-node1``, ``<job number>-rank1``), without ``.hydra/``, so no run tool reads it as a run;
they write no status.json (``litlab.run_folder.status``) and, as Lightning has it, no checkpoints,
metrics or run record. Only os and OmegaConf here: it is registered at ``import litlab``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from omegaconf import OmegaConf

WRITER = ""  # rank_name() of the process that writes the run folder


def rank_name(env: Mapping[str, str] = os.environ) -> str:
    """``""`` for global rank 0 (or a process that is not one of several), else the rank as
    the launcher gave it: ``rank3`` (torchrun's ``RANK``, a SLURM task's ``SLURM_PROCID``),
    ``node1`` or ``node1-local2`` (Lightning's ``NODE_RANK`` and ``LOCAL_RANK``).

    The variables are read in the order that gives the process's own rank: ``RANK`` first;
    then Lightning's, which its launcher also sets in the processes it starts inside a SLURM
    allocation (where ``SLURM_PROCID`` is the allocation's, not theirs); ``SLURM_PROCID`` last.
    """
    if env.get("RANK", "").strip():
        rank = int(env["RANK"])
        return f"rank{rank}" if rank else WRITER
    node = int(env.get("NODE_RANK") or env.get("GROUP_RANK") or 0)
    local = int(env.get("LOCAL_RANK") or 0)
    if node or local:
        return f"node{node}" + (f"-local{local}" if local else "")
    if "NODE_RANK" in env or "LOCAL_RANK" in env:
        return WRITER
    rank = int(env.get("SLURM_PROCID") or 0)
    return f"rank{rank}" if rank else WRITER


def writes_run_folder() -> bool:
    """Whether this process writes the run folder (global rank 0)."""
    return rank_name() == WRITER


def rank_folder(path: str) -> str:
    """``${litlab.rank_folder:<run folder>}``: the run folder for rank 0, for another rank a
    folder beside it named after that rank."""
    name = rank_name()
    return path if name == WRITER else f"{path}-{name}"


def if_rank_zero(value: str) -> str | None:
    """``${litlab.if_rank_zero:.hydra}``: the value for rank 0, null for the others."""
    return value if writes_run_folder() else None


def register_resolvers() -> None:
    """Never cached: a sweep's config is made in the launching process and resolved in each
    job's (a SLURM job's tasks each have their own rank)."""
    for name, resolver in (("rank_folder", rank_folder), ("if_rank_zero", if_rank_zero)):
        OmegaConf.register_new_resolver(f"litlab.{name}", resolver, replace=True)
