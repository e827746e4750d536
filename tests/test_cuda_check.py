"""Lightning's NVML-based CUDA check: dropped without an NVIDIA driver, kept with one."""

from __future__ import annotations

import pytest

from litlab import cuda_check
from litlab.cuda_check import NVML_CUDA_CHECK, drop_nvml_check_without_driver


@pytest.mark.parametrize("driver", [False, True])
def test_the_check_is_dropped_only_without_a_driver(monkeypatch, driver):
    monkeypatch.setenv(NVML_CUDA_CHECK, "1")  # as `import lightning` leaves it
    monkeypatch.setattr(cuda_check, "nvml_loadable", lambda: driver)
    assert drop_nvml_check_without_driver() is not driver
    assert (cuda_check.os.environ.get(NVML_CUDA_CHECK) == "1") is driver


def test_a_value_other_than_one_is_left_alone(monkeypatch):
    monkeypatch.setenv(NVML_CUDA_CHECK, "0")
    monkeypatch.setattr(cuda_check, "nvml_loadable", lambda: False)
    assert not drop_nvml_check_without_driver()
    assert cuda_check.os.environ[NVML_CUDA_CHECK] == "0"
