"""litlab: PyTorch training fundamentals as Hydra + Lightning experiments."""

__version__ = "0.1.0"
