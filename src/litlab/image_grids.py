"""Pictures for TensorBoard's images tab drawn as pixels (Pillow), in milliseconds.

matplotlib took ~3.8 s a run to draw the test figures (a grid of 32 titled panels and a
confusion matrix), more than a short sweep job's training; the same pictures as arrays take a
few milliseconds. Each function returns an ``(H, W, 3)`` uint8 array; ``image_summary`` makes
it the event TensorBoard shows (what ``SummaryWriter.add_image`` writes, without its float
round trip of the pixels).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tensorboard.compat.proto.summary_pb2 import Summary

WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (110, 110, 110)
LOW, HIGH = np.array([247, 251, 255]), np.array([8, 48, 107])  # matplotlib's "Blues" ends


@cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own scalable font: no system fonts needed."""
    return ImageFont.load_default(size=size)


def to_grey(image: torch.Tensor) -> np.ndarray:
    """One (1, H, W) or (H, W) image scaled to 0-255 by its own range, as ``imshow`` does."""
    pixels = image.detach().float().cpu().squeeze(0)
    low, high = pixels.min(), pixels.max()
    scaled = (pixels - low) / (high - low) if high > low else torch.zeros_like(pixels)
    return (scaled * 255).round().to(torch.uint8).numpy()


def labelled_grid(
    images: Sequence[torch.Tensor], captions: Sequence[str], columns: int = 8, scale: int = 3
) -> np.ndarray:
    """Images in rows of ``columns``, each enlarged ``scale`` times with its caption below
    (one or more lines). An empty list gives one empty row, so the tag still appears."""
    size = font(11)
    lines = max((caption.count("\n") + 1 for caption in captions), default=1)
    side = (images[0].shape[-1] if len(images) else 28) * scale
    cell_w, cell_h = max(side, 100) + 8, side + 6 + 13 * lines
    rows = max(1, math.ceil(len(images) / columns))
    canvas = Image.new("RGB", (columns * cell_w, rows * cell_h), WHITE)
    draw = ImageDraw.Draw(canvas)
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        left, top = (i % columns) * cell_w, (i // columns) * cell_h
        tile = Image.fromarray(to_grey(image), "L").resize((side, side), Image.NEAREST)  # type: ignore[attr-defined]  # Resampling.NEAREST
        canvas.paste(tile.convert("RGB"), (left + (cell_w - side) // 2, top + 2))
        draw.multiline_text(
            (left + cell_w // 2, top + side + 4), caption, fill=BLACK, font=size,
            anchor="ma", align="center", spacing=2,
        )  # fmt: skip
    return np.asarray(canvas)


def blues(fraction: float) -> tuple[int, int, int]:
    """White (0) to dark blue (1)."""
    return tuple(int(v) for v in np.round(LOW + (HIGH - LOW) * fraction))  # type: ignore[return-value]


def confusion_image(matrix: torch.Tensor, names: Sequence[str], cell: int = 56) -> np.ndarray:
    """The confusion matrix as a heat map with its counts: rows are the true class, columns the
    predicted one, both named; the darker a cell, the more test images in it."""
    counts = matrix.detach().cpu().long().numpy()
    n = len(names)
    label, small = font(13), font(12)
    left = max(int(label.getlength(name)) for name in names) + 16
    top = left  # the column names, written upwards
    width, height = left + n * cell + 10, top + n * cell + 30
    canvas = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(canvas)
    peak = max(int(counts.max()), 1)
    for row in range(n):
        for col in range(n):
            value = int(counts[row, col])
            x, y = left + col * cell, top + row * cell
            colour = blues(value / peak)
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=colour)
            ink = WHITE if value / peak > 0.5 else BLACK
            draw.text((x + cell // 2, y + cell // 2), str(value), fill=ink, font=small, anchor="mm")
        draw.text((left - 8, top + row * cell + cell // 2), names[row], fill=BLACK, font=label,
                  anchor="rm")  # fmt: skip
    names_up = Image.new("RGB", (top, n * cell), WHITE)  # drawn across, then turned upwards
    across = ImageDraw.Draw(names_up)
    for col in range(n):
        across.text((8, col * cell + cell // 2), names[col], fill=BLACK, font=label, anchor="lm")
    canvas.paste(names_up.transpose(Image.Transpose.ROTATE_90), (left, 0))
    draw.text((left + n * cell // 2, height - 8), "predicted class (columns); true class (rows)",
              fill=GREY, font=small, anchor="md")  # fmt: skip
    return np.asarray(canvas)


def image_summary(tag: str, pixels: np.ndarray) -> Summary:
    """An (H, W, 3) uint8 image as a TensorBoard image summary (PNG, fast compression)."""
    png = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(png, format="PNG", compress_level=1)
    height, width, channels = pixels.shape
    image = Summary.Image(height=height, width=width, colorspace=channels,
                          encoded_image_string=png.getvalue())  # fmt: skip
    return Summary(value=[Summary.Value(tag=tag, image=image)])
