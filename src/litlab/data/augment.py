"""Augmentations of a whole batch tensor at once, run where the batch is (CPU or GPU).

Per-sample PIL transforms would need the torchvision Dataset path and cost a Python call per
image; these cost a few tensor operations per batch. Used as ``data.augment`` (see
``conf/experiment/fashion_90.yaml``); the data module applies them to training batches only.
"""

from __future__ import annotations

import torch
from torch import Tensor


class RandomHorizontalFlip:
    """Mirrors each image (last dimension) with probability ``p``.

    Draws from its own generator seeded by ``seed``, so a run's augmentations depend on the
    seed alone; the draws are made on the CPU and moved to the batch's device.
    """

    def __init__(self, p: float = 0.5, seed: int = 0) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p={p} must be in [0, 1]")
        self.p = p
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, images: Tensor) -> Tensor:
        flip = torch.rand(len(images), generator=self.generator) < self.p
        flip = flip.to(images.device).view(-1, *([1] * (images.dim() - 1)))
        return torch.where(flip, images.flip(-1), images)
