"""A metric's logged history in one run folder: from its TensorBoard event files
(``<run>/tensorboard``) or, with ``logger=csv``, from ``<run>/csv/metrics.csv``."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

TENSORBOARD_DIR, CSV_FILE = "tensorboard", Path("csv") / "metrics.csv"
Points = list[tuple[int, float]]  # (optimizer step, value), as logged


def read_history(folder: Path, metric: str) -> Points | None:
    """``metric`` over the run's steps, as logged; None when the run logged no history
    (``logger=none``), an empty list when it did but not this metric."""
    events = folder / TENSORBOARD_DIR
    if events.is_dir() and any(events.glob("events.out.tfevents.*")):
        from tensorboard.backend.event_processing import event_accumulator as ea

        logging.getLogger("tensorboard").setLevel(logging.ERROR)  # "more than one graph event"
        keep_one = {kind: 1 for kind in (ea.IMAGES, ea.AUDIO, ea.HISTOGRAMS, ea.TENSORS)}
        accumulator = ea.EventAccumulator(str(events), size_guidance={ea.SCALARS: 0, **keep_one})
        accumulator.Reload()
        if metric not in accumulator.Tags().get(ea.SCALARS, []):
            return []
        return [(event.step, event.value) for event in accumulator.Scalars(metric)]
    if (folder / CSV_FILE).is_file():
        with (folder / CSV_FILE).open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row.get("step") not in (None, "")]
        return [(int(float(row["step"])), float(row[metric])) for row in rows if row.get(metric)]
    return None
