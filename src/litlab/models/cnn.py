"""A small convolutional network for 28x28 grey images: the chapter after the MLP.

(Conv3x3 -> BatchNorm -> ReLU -> MaxPool2)* -> Flatten -> Dropout -> Linear -> logits
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """One stage: features found anywhere in the image, then the image halved.

    - Conv 3x3, padding 1: the same small filters slide over every position (what an MLP must
      learn again for each pixel), and the map keeps its size. No bias: BatchNorm's shift is one.
    - BatchNorm: each channel normalised over the batch, so every layer sees inputs of a steady
      scale; training tolerates larger learning rates and converges in fewer epochs.
    - ReLU: the nonlinearity, as in the MLP.
    - MaxPool 2x2: keeps the strongest response of each 2x2 patch; half the height and width,
      a quarter of the work for the next stage, and small shifts of the image matter less.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class CNN(nn.Module):
    """Returns logits for images of shape (batch, in_channels, image_size, image_size).

    ``channels`` has one entry per stage; each stage halves the image (28 -> 14 -> 7). The head
    is a single Linear layer on the flattened maps, behind Dropout: it zeroes a random
    ``dropout`` fraction of the features in training (and scales the rest), so the head cannot
    lean on a few of them; a regulariser that costs nothing at test time.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 32),
        num_classes: int = 10,
        dropout: float = 0.2,
        image_size: int = 28,
    ) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        width = in_channels
        for out in channels:
            stages.append(conv_block(width, out))
            width = out
            image_size //= 2
        self.features = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(width * image_size * image_size, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
