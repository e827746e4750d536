"""The checkpoints of a run folder: where to continue from, and which one is the best."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Where a run can continue from, preferred in this order when two hold the same step: last.ckpt
# is written at the end of an epoch (an exact resume), interrupted.ckpt on Ctrl-C or SIGTERM, and
# hpc_ckpt_<n>.ckpt by Lightning on SLURM's requeue signal.
RESUME_FILES = ("checkpoints/last.ckpt", "checkpoints/interrupted.ckpt", "hpc_ckpt_*.ckpt")


def load(path: Path) -> dict[str, Any] | None:
    """The checkpoint's dict (tensors memory-mapped, not read), or None if it does not load."""
    import torch  # here: the run tools (rerun, resume) import this module and start fast

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - truncated by a kill, or not a checkpoint: not a candidate
        return None
    return checkpoint if isinstance(checkpoint, dict) and "state_dict" in checkpoint else None


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint in ``run_dir`` that got furthest (highest global step), or None. One that
    does not load is named in a warning line when another is used instead."""
    found, broken = [], []
    for rank, pattern in enumerate(RESUME_FILES):
        for path in sorted(run_dir.glob(pattern)):
            checkpoint = load(path)
            step = checkpoint.get("global_step", 0) if checkpoint is not None else None
            if isinstance(step, int) and not isinstance(step, bool):
                found.append((step, -rank, path))
            else:
                broken.append(str(path.relative_to(run_dir)))
    if not found:
        return None
    newest = max(found)[2]
    if broken:
        print(f"warning: {', '.join(broken)} in {run_dir} cannot be loaded (cut short or not a "
              f"checkpoint); continuing from {newest.relative_to(run_dir)}",
              file=sys.stderr)  # fmt: skip
    return newest


def best_checkpoint(run_dir: Path) -> Path | None:
    """The run's best checkpoint (as its ModelCheckpoint recorded it), else last.ckpt, else None."""
    last = run_dir / "checkpoints" / "last.ckpt"
    for path in (last, run_dir / "checkpoints" / "interrupted.ckpt"):
        checkpoint = load(path) if path.is_file() else None
        for key, state in (checkpoint or {}).get("callbacks", {}).items():
            best = state.get("best_model_path") if key.startswith("ModelCheckpoint") else None
            # by name: the folder may have been copied from elsewhere
            if best and (run_dir / "checkpoints" / Path(best).name).is_file():
                return run_dir / "checkpoints" / Path(best).name
    return last if last.is_file() else None
