"""The cubic ``a + b x + c x^2 + d x^3`` as an ``nn.Module`` with four scalar parameters."""

from __future__ import annotations

import torch
from torch import nn


class Polynomial3(nn.Module):
    """Four learnable scalars; the smallest model that still shows what ``nn.Parameter`` does."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.randn(()))
        self.b = nn.Parameter(torch.randn(()))
        self.c = nn.Parameter(torch.randn(()))
        self.d = nn.Parameter(torch.randn(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * x + self.c * x**2 + self.d * x**3

    @property
    def coefficients(self) -> torch.Tensor:
        """(a, b, c, d) as one detached tensor, in the order of the powers of x."""
        return torch.stack([self.a, self.b, self.c, self.d]).detach()

    def string(self) -> str:
        return format_cubic(self.coefficients)


def format_cubic(coefficients: torch.Tensor) -> str:
    a, b, c, d = (float(v) for v in coefficients)
    return f"y = {a:+.4f} {b:+.4f} x {c:+.4f} x^2 {d:+.4f} x^3"
