"""Property: whatever value any config key gets -- None, a boolean, a string, a whole number
(0, negative, huge), a float (nan, inf), a list, a dict -- the run is either prepared (validated
and everything built up to training) or refused with one ``error:`` line naming what is wrong;
never a traceback. In-process and without training, so each drawn config costs milliseconds."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf, open_dict

from litlab.errors import UserError
from litlab.run import prepare
from tests.conftest import DATA_DIR, compose_config

HUGE = [0, -1, 1, 2**31, 2**63, -(2**40), 10**30]
SCALARS = (
    st.none()
    | st.booleans()
    | st.text(max_size=6)
    | st.sampled_from(["no", "yes", "true", "???", "${nothing}", "1e-3", "min", "norm"])
    | st.sampled_from(HUGE)
    | st.integers(-5, 300)
    | st.floats(allow_nan=True, allow_infinity=True)
)
VALUES = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(st.text(max_size=3), SCALARS,
                                                                    max_size=2)  # fmt: skip


def leaf_keys(cfg: DictConfig) -> list[str]:
    """Every key the run's code is given (Hydra's node and the folders aside)."""
    keys = []

    def walk(node, path):
        for key in node:
            full = f"{path}.{key}" if path else str(key)
            child = node._get_node(key)
            if OmegaConf.is_dict(child) and not child._is_none() and not child._is_missing():
                walk(node[key], full)
            else:
                keys.append(full)

    walk(OmegaConf.masked_copy(cfg, [k for k in cfg if k not in ("hydra", "paths")]), "")
    return keys


def base(experiment: str, tmp: str) -> DictConfig:
    return compose_config([f"experiment={experiment}", f"paths.output_dir={tmp}/run",
                           f"paths.data_dir={DATA_DIR}", "logger=none"])  # fmt: skip


@pytest.mark.parametrize("experiment", ["polynomial", "fashion"])
def test_any_value_of_any_key_is_prepared_or_refused_in_one_line(
    experiment, tmp_path_factory, capsys
):
    tmp = str(tmp_path_factory.mktemp(experiment))
    cfg0 = base(experiment, tmp)
    keys = leaf_keys(cfg0) + ["model.optimizer._target_", "trainer.foo"]  # + a key nothing takes

    @settings(max_examples=30, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(st.lists(st.tuples(st.sampled_from(keys), VALUES), min_size=1, max_size=2))
    def check(changes):
        cfg = cfg0.copy()
        with open_dict(cfg):
            for key, value in changes:
                OmegaConf.update(cfg, key, value, force_add=True, merge=False)
        try:
            prepare(cfg)
        except UserError as error:
            message = str(error)
            assert message and "\n" not in message, (changes, message)
        capsys.readouterr()  # what the config print wrote

    check()
