"""Gradient descent with the update written out, as the fundamentals first write it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class WrittenOutSGD(torch.optim.Optimizer):
    """``p -= lr * p.grad`` for every parameter, under ``no_grad``; nothing else.

    ``torch.optim.SGD`` does the same with its extras (momentum, weight decay, ...) off; this is
    the loop the notes write by hand before they introduce optimizers. It is an optimizer object
    only so that Lightning counts its steps: ``global_step``, ``trainer.max_steps`` and
    checkpoints work as they do with torch's optimizers (the loop's ``zero_grad`` sets
    ``p.grad = None`` after each step).
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:  # type: ignore[override]
        if closure is not None:
            with torch.enable_grad():
                closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p -= group["lr"] * p.grad
