"""Keeps ``torch.cuda.is_available()`` cheap on machines without an NVIDIA driver.

Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` when it is imported, so that asking whether
there is a GPU does not initialise CUDA (a process forked after that could not use CUDA). torch
then asks NVML, the driver's management library, and where there is no driver it tries to load
that library again on every call; torch 2.14's Adam asks several times per ``step()``, so a CPU
run paid for it every step (benchmarks/README.md, "History"). Without a driver there is no CUDA
to protect, so the variable is dropped; with one, it is left as Lightning set it.
"""

from __future__ import annotations

import ctypes
import os

NVML_CUDA_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def nvml_loadable() -> bool:
    """Whether the NVIDIA driver's NVML library loads (the one torch's NVML check needs)."""
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


def drop_nvml_check_without_driver() -> bool:
    """Unsets ``PYTORCH_NVML_BASED_CUDA_CHECK`` when NVML cannot load; returns whether it did."""
    if os.environ.get(NVML_CUDA_CHECK) != "1" or nvml_loadable():
        return False
    del os.environ[NVML_CUDA_CHECK]
    return True
