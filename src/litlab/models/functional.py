"""Numerically stable softmax, written out because the reason it is stable is the lesson."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def stable_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(z) = softmax(z - max z): the shift leaves the result unchanged, and exp never
    sees a positive argument, so it cannot overflow (exp(1000) is inf in float32)."""
    shifted = logits - logits.amax(dim=dim, keepdim=True)
    exp = shifted.exp()
    return exp / exp.sum(dim=dim, keepdim=True)


def example_input(shape: Sequence[int] | None) -> torch.Tensor | None:
    """Zeros of ``shape``: what Lightning traces for the graph (``example_input_array``)."""
    return None if shape is None else torch.zeros(tuple(shape))
