"""The cubic ``a + b x + c x^2 + d x^3``: the module that learns it, and the rest of its maths
(evaluating, printing, and the closed-form least-squares cubic it is measured against)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def cubic(coefficients: Sequence[torch.Tensor] | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """a + b x + c x^2 + d x^3 for ``coefficients`` (a, b, c, d)."""
    a, b, c, d = coefficients
    return a + b * x + c * x**2 + d * x**3


def format_cubic(coefficients: torch.Tensor) -> str:
    a, b, c, d = (float(v) for v in coefficients)
    return f"y = {a:+.4f} {b:+.4f} x {c:+.4f} x^2 {d:+.4f} x^3"


def least_squares_cubic(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The best cubic (a, b, c, d) for the points, solved in closed form (in float64), and its
    mean squared error: the floor any trained cubic can reach."""
    design = torch.stack([x**0, x, x**2, x**3], dim=1).double()
    solution = torch.linalg.lstsq(design, y.double().unsqueeze(1)).solution.squeeze(1)
    mse = torch.mean((design @ solution - y.double()) ** 2).item()
    return solution.float(), mse


class Polynomial3(nn.Module):
    """Four learnable scalars; the smallest model that still shows what ``nn.Parameter`` does."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.randn(()))
        self.b = nn.Parameter(torch.randn(()))
        self.c = nn.Parameter(torch.randn(()))
        self.d = nn.Parameter(torch.randn(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cubic((self.a, self.b, self.c, self.d), x)

    @property
    def coefficients(self) -> torch.Tensor:
        """(a, b, c, d) as one detached tensor, in the order of the powers of x."""
        return torch.stack([self.a, self.b, self.c, self.d]).detach()

    def string(self) -> str:
        return format_cubic(self.coefficients)
