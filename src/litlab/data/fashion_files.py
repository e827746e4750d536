"""Make sure the four Fashion-MNIST IDX files are in the data folder, complete and readable.

Sources, in order: the data folder itself; Debian's copy (``apt-get install
dataset-fashion-mnist``); torchvision's download. Files are staged in a temporary folder and
moved into place only once all four have been checked, so no half-written folder is left.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from litlab.errors import UserError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
IMAGE_BYTES = 28 * 28
CLASSES = 10
# name -> IDX magic number; torchvision reads them from <root>/FashionMNIST/raw/.
RAW_FILES: dict[str, int] = {
    "train-images-idx3-ubyte": IMAGE_MAGIC,
    "train-labels-idx1-ubyte": LABEL_MAGIC,
    "t10k-images-idx3-ubyte": IMAGE_MAGIC,
    "t10k-labels-idx1-ubyte": LABEL_MAGIC,
}


class DataUnavailableError(UserError):
    """No source could provide the data; the message says how to provide it."""


def raw_folder(data_dir: str | Path) -> Path:
    return Path(data_dir) / "FashionMNIST" / "raw"


def idx_count(path: Path, magic: int) -> tuple[int | None, str | None]:
    """(number of items, None) for a complete IDX file; (None, why not) otherwise."""
    if not path.is_file():
        return None, f"{path} is missing"
    with path.open("rb") as f:
        header = f.read(16 if magic == IMAGE_MAGIC else 8)
    if len(header) < 8 or int.from_bytes(header[:4], "big") != magic:
        return None, f"{path} is not an IDX file of this kind (wrong magic number)"
    count = int.from_bytes(header[4:8], "big")
    item_bytes = IMAGE_BYTES if magic == IMAGE_MAGIC else 1
    expected = len(header) + count * item_bytes
    if path.stat().st_size != expected:
        size = path.stat().st_size
        return None, f"{path} is truncated or corrupt ({size} bytes, expected {expected})"
    if magic == LABEL_MAGIC:  # one byte a label; every byte of an image is a valid pixel
        labels = path.read_bytes()[len(header) :]
        if labels and max(labels) >= CLASSES:
            at = next(i for i, label in enumerate(labels) if label >= CLASSES)
            return None, (f"{path} holds label {labels[at]} (item {at}); Fashion-MNIST's "
                          f"labels are 0 to {CLASSES - 1}")  # fmt: skip
    return count, None


def folder_problems(folder: Path) -> list[str]:
    """Everything wrong with the four files: missing, truncated, or image/label counts differ."""
    counts, problems = {}, []
    for name, magic in RAW_FILES.items():
        counts[name], problem = idx_count(folder / name, magic)
        if problem:
            problems.append(problem)
    for split in ("train", "t10k"):
        images, labels = counts[f"{split}-images-idx3-ubyte"], counts[f"{split}-labels-idx1-ubyte"]
        if images is not None and labels is not None and images != labels:
            problems.append(f"{folder}: {images} {split} images but {labels} labels")
    return problems


def unpack_from(source_dir: Path, staging: Path) -> None:
    """Decompress the ``.gz`` files of a local copy (Debian's, or one the user put there)."""
    for name in RAW_FILES:
        gz = source_dir / f"{name}.gz"
        if not gz.is_file():
            raise FileNotFoundError(f"{gz} is missing")
        with gzip.open(gz, "rb") as src, (staging / name).open("wb") as dst:
            shutil.copyfileobj(src, dst)


def download_with_torchvision(staging: Path) -> None:
    from torchvision.datasets import FashionMNIST

    with tempfile.TemporaryDirectory(dir=staging) as root:
        FashionMNIST(root, train=True, download=True)
        FashionMNIST(root, train=False, download=True)
        for name in RAW_FILES:
            shutil.move(str(raw_folder(root) / name), staging / name)


def ensure_fashion_mnist(
    data_dir: str | Path,
    system_dir: str | Path | None = DEBIAN_DIR,
    allow_download: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Return the raw folder, filling it from the first source that works."""
    target = raw_folder(data_dir)
    problems = folder_problems(target)
    if not problems:
        return target
    if target.exists():
        log("Fashion-MNIST in the data folder is incomplete: " + "; ".join(problems))

    sources: list[tuple[str, Callable[[Path], None]]] = []
    if system_dir is not None:
        sources.append(
            (f"the local copy in {system_dir}", lambda s: unpack_from(Path(system_dir), s))
        )
    if allow_download:
        sources.append(("torchvision's download", download_with_torchvision))

    failures = [f"the data folder: {'; '.join(problems)}"] if target.exists() else []
    target.parent.mkdir(parents=True, exist_ok=True)
    for description, fetch in sources:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".staging-") as tmp:
            staging = Path(tmp)
            try:
                fetch(staging)
            except Exception as error:  # noqa: BLE001 - any failure means: try the next source
                failures.append(f"{description}: {error}")
                continue
            if bad := folder_problems(staging):
                failures.append(f"{description}: " + "; ".join(bad))
                continue
            target.mkdir(parents=True, exist_ok=True)
            for name in RAW_FILES:  # each replace is atomic: a file is old or new, never half
                (staging / name).replace(target / name)
            log(f"Fashion-MNIST imported from {description} into {target}")
            return target

    tried = "".join(f"\n  - {failure}" for failure in failures)
    if not sources:
        tried += f"\n  - (no {'other ' if target.exists() else ''}source enabled)"
    raise DataUnavailableError(
        f"Fashion-MNIST is not available. Tried:{tried}\n"
        "Provide it in one of three ways:\n"
        f"  1. put the four uncompressed IDX files in {target}/\n"
        "     (or point data.data_dir=<folder> at a folder that has FashionMNIST/raw/);\n"
        "  2. sudo apt-get install dataset-fashion-mnist  (Debian/Ubuntu: a local copy in "
        f"{DEBIAN_DIR});\n"
        "  3. run once with internet access, so torchvision can download it."
    )
