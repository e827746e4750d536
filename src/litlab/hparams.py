"""Which settings of a run are its hyperparameters: the knobs people compare between runs.

TensorBoard's HPARAMS tab shows one column per hyperparameter; these are its columns. The whole
composed config is still in the TEXT tab (``run/config``) and in ``.hydra/config.yaml``.
"""

from __future__ import annotations

from typing import Any, cast

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, ListConfig, OmegaConf

# The config groups whose chosen option is a hyperparameter (python train.py model=...).
GROUPS = ("experiment", "model", "trainer")

# Config keys logged whenever the run's config has them (each experiment has some of them),
# named as on the command line. A node with a _target_ is logged as its class name.
KNOBS = (
    "seed",
    "model.optimizer",  # the class: Adam, AdamW, SGD, WrittenOutSGD
    "model.optimizer.lr",
    "model.optimizer.weight_decay",
    "model.optimizer.momentum",
    "model.scheduler",
    "model.net",  # the class: MLP, CNN
    "model.net.hidden_sizes",
    "model.net.channels",
    "model.net.dropout",
    "model.compile",
    "model.label_smoothing",
    "data.batch_size",
    "trainer.accumulate_grad_batches",
    "trainer.max_epochs",
    "trainer.gradient_clip_val",
)

# Besides these, every command-line override is a hyperparameter, except the plumbing below.
PLUMBING_PREFIXES = ("hydra", "paths.")
PLUMBING_SUFFIXES = ("_dir", "_path")


def is_plumbing(key: str) -> bool:
    """Where files go and Hydra's own settings: never a column."""
    return key.startswith(PLUMBING_PREFIXES) or key.endswith(PLUMBING_SUFFIXES)


def as_hparam(value: Any) -> bool | int | float | str | None:
    """A value TensorBoard can show and filter: numbers, strings, booleans; lists as text.
    None (an unset knob) and whole config nodes give None: no entry, never the string 'None'."""
    if isinstance(value, DictConfig):
        target = value.get("_target_")
        return str(target).rsplit(".", 1)[-1] if target else None
    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, list) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return str(value)
    if isinstance(value, (bool, int, float, str)):
        return value
    return None


def override_keys(overrides: list[str]) -> list[str]:
    """The config keys (or groups) that ``key=value`` overrides set; deletions are left out.
    ``model.optimizer._target_=...`` counts as ``model.optimizer``, which is logged by class."""
    keys = []
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_delete():
            continue
        key = override.key_or_group.removesuffix("._target_")
        if not is_plumbing(key):
            keys.append(key)
    return keys


def run_hparams(cfg: DictConfig) -> dict[str, bool | int | float | str]:
    """The run's hyperparameters, by the names people type on the command line."""
    choices: dict[str, Any] = {}
    overrides: list[str] = []
    if HydraConfig.initialized():
        hydra = HydraConfig.get()
        choices = cast(dict[str, Any], OmegaConf.to_container(hydra.runtime.choices))
        overrides = list(hydra.overrides.task)
    hparams: dict[str, Any] = {}
    for key in (*GROUPS, *KNOBS, *override_keys(overrides)):
        if key in choices:  # a config group: its chosen option
            value = choices[key]
        else:
            value = as_hparam(OmegaConf.select(cfg, key, default=None))
        if value is not None:
            hparams[key] = value
    return hparams
