"""A multilayer perceptron for flat images: Flatten -> (Linear -> ReLU [-> Dropout])* -> Linear."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class MLP(nn.Module):
    """Returns logits: the loss applies log-softmax itself, which is the numerically stable way."""

    def __init__(
        self,
        in_features: int = 28 * 28,
        hidden_sizes: Sequence[int] = (512, 512),
        num_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
