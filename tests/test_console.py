"""What a run prints on the console, train.py run as a user runs it."""

from __future__ import annotations

import logging
import re
import subprocess
import warnings

import pytest

from litlab.console import IGNORED_LOG_MESSAGES, quiet_library_noise

from .conftest import run_folder, run_train

# a short polynomial run; log_every_n_steps below its 10 steps an epoch, so that Lightning has
# no reason to warn about this run (it would, rightly, with fewer steps than the interval)
SHORT = ["experiment=polynomial", "data.passes_per_epoch=1", "trainer.max_epochs=2",
         "trainer.log_every_n_steps=5"]  # fmt: skip


@pytest.fixture(scope="module")
def normal_run(tmp_path_factory) -> subprocess.CompletedProcess[str]:
    return run_train(*SHORT, f"paths.log_dir={tmp_path_factory.mktemp('outputs')}")


def test_a_normal_run_prints_no_warnings_and_no_advertisement(normal_run):
    assert normal_run.returncode == 0, normal_run.stderr[-3000:]
    err = normal_run.stderr
    # every warning is printed as "<file>.py:<line>: <message>" (Python's and Lightning's format)
    assert not re.search(r"\.py:\d+: ", err), err
    for noise in ("deprecated", "FutureWarning", "torch.jit.trace", "Tip:", "litlogger"):
        assert noise not in err, err
    assert "GPU available: False" in err  # Lightning's own messages are still there


def test_the_console_still_shows_config_first_and_run_folder_last(normal_run):
    out = normal_run.stdout
    assert out.startswith("Config (python train.py --cfg job prints it without running):\n")
    assert "\nFinal metrics:\n" in out
    assert out.rstrip().splitlines()[-1] == f"Run folder: {run_folder(normal_run)}"


def test_the_filters_drop_only_the_messages_they_name():
    quiet_library_noise()
    leaf_spec = "`isinstance(treespec, LeafSpec)` is deprecated, use ..."
    with warnings.catch_warnings(record=True) as caught:
        for module in ("lightning.pytorch.utilities._pytree", "litlab.elsewhere"):
            warnings.warn_explicit(leaf_spec, FutureWarning, "x.py", 1, module, registry={})
    assert [str(w.message) for w in caught] == [leaf_spec]  # only the one from elsewhere
    (name,) = IGNORED_LOG_MESSAGES
    logger = logging.getLogger(name)
    tip = logging.makeLogRecord({"msg": "💡 Tip: For seamless cloud logging, try ..."})
    other = logging.makeLogRecord({"msg": "GPU available: False, used: False"})
    assert not logger.filter(tip) and logger.filter(other)
    assert logging.getLogger("litlab").filter(tip)  # other loggers are left alone
