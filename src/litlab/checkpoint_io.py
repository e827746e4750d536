"""Checkpoints written whole or not at all: Lightning's ``TorchCheckpointIO`` writes into the
file under its final name, so a kill or a full disk mid-write leaves a broken ``last.ckpt`` in
place of the good one. Here the bytes go to a temporary file beside it, which is flushed to disk
and then renamed over the name (a rename within a folder is atomic on POSIX filesystems)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with a temporary file and a rename (``trainer.plugins``)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or not _is_local_file_protocol(path):  # remote: as before
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        buffer = io.BytesIO()  # as Lightning's own: a write error stays an OSError (torch.save
        torch.save(checkpoint, buffer)  # into a file turns it into a RuntimeError)
        try:
            with temporary.open("wb") as handle:
                handle.write(buffer.getbuffer())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException as error:  # a full disk, a kill's KeyboardInterrupt: the old stays
            temporary.unlink(missing_ok=True)
            if isinstance(error, OSError) and error.filename is None:  # write() names no file
                raise OSError(error.errno, error.strerror, str(path)) from error
            raise
