"""Deprecated: moved to ``litlab.multistep.module`` (``FusedStepsModule`` is now
``MultiStepModule``). Kept for one release; every access warns."""

from __future__ import annotations

from litlab.deprecation import moved
from litlab.multistep import module as _new
from litlab.multistep.module import MultiStepModule


class _FusedStepsModule(MultiStepModule):
    """``MultiStepModule`` under its old name, taking the old constructor's clipping arguments
    (None only: clipping is ``trainer.gradient_clip_val`` now)."""

    def __init__(
        self, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        _new.refuse_module_clipping(gradient_clip_val, gradient_clip_algorithm)
        super().__init__()


__getattr__ = moved(
    __name__,
    {
        "FusedStepsModule": (_FusedStepsModule, "litlab.multistep.MultiStepModule"),
        "STEP_HOOKS": _new.STEP_HOOKS,
        "has_step_hooks": _new.has_step_hooks,
        "only_callbacks_with_step_hooks": _new.only_callbacks_with_step_hooks,
    },
)
