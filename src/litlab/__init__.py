"""litlab: PyTorch training fundamentals as Hydra + Lightning experiments."""

import os

# cuBLAS picks its workspace when CUDA first runs a matmul; only with this setting are its results
# deterministic. Set here, at the first import of litlab (train.py's first import, before torch
# and Lightning), so it holds from process start, whatever creates the CUDA context. A value the
# user set is kept.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

# isort: split
# ${litlab.rank_folder:...} and ${litlab.if_rank_zero:...} (conf/hydra/default.yaml): registered
# wherever litlab is imported, which is wherever Hydra resolves a run's folder (train.py, and the
# launchers' worker processes, which unpickle litlab's Hydra callbacks first).
# ${litlab.optuna_direction:...}: the search's direction from optimized_metric_mode.
from litlab import metric_mode  # noqa: E402
from litlab.run_folder import ranks  # noqa: E402

ranks.register_resolvers()
metric_mode.register_resolvers()

__version__ = "0.1.0"
