"""What ``model.compile=true`` (torch.compile of the network) buys on this machine, per network.

    python benchmarks/compile.py results.json --threads 1

For each network litlab trains (the cubic of ``experiment=polynomial``, the MLP of
``experiment=fashion``, the CNN of ``experiment=fashion_cnn``), at its experiment's batch size,
with its experiment's optimizer and loss: one training step (forward, loss, backward,
optimizer step) timed eager and compiled, the network compiled in place as the switch does
(``nn.Module.compile``) and inputs of the right shape (the values do not change the time).

- compile s: the first compiled step (tracing, inductor's C++ code generation and build of the
  forward and the backward), from a fresh inductor cache, with one compile thread;
- recompile s: the first step at another batch size (an epoch's short last batch): torch
  compiles once more, with dynamic shapes;
- ms/step: the median over ``--steps`` steps after warm-up, eager and compiled timed in
  alternating blocks, so that a busy spell of a shared machine falls on both; CPU ms/step is
  the process's CPU time, less sensitive to other processes than the wall clock;
- break-even: the steps after which compiling has paid for its compile time.

Prints a markdown table; writes everything as JSON to the given path.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# A fresh cache, so that compile s is what a first run pays; one compile thread, as the
# training runs use one torch thread. Both must be set before torch's inductor reads them.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="litlab-inductor-"))
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# network name -> (experiment, input shape of one sample, target kind)
NETWORKS = {
    "Polynomial3": ("polynomial", (), "regression"),
    "MLP": ("fashion", (1, 28, 28), "classes"),
    "CNN": ("fashion_cnn", (1, 28, 28), "classes"),
}


def compose(experiment: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with (
        tempfile.TemporaryDirectory() as output_dir,
        initialize_config_dir(str(REPO / "conf"), version_base="1.3"),
    ):
        return hydra_compose(
            "train",
            overrides=[f"experiment={experiment}", f"paths.output_dir={output_dir}"],
        )


def random_batch(name: str, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    _, shape, kind = NETWORKS[name]
    if kind == "regression":
        return torch.randn(batch_size), torch.randn(batch_size)
    return torch.randn(batch_size, *shape), torch.randint(0, 10, (batch_size,))


def training_step(name: str, batch_size: int | None = None) -> tuple[nn.Module, Callable]:
    """The experiment's network and a closure taking one optimizer step on a fixed batch."""
    from hydra.utils import instantiate

    experiment, _, kind = NETWORKS[name]
    cfg = compose(experiment)
    torch.manual_seed(0)
    net = instantiate(cfg.model.net)
    optimizer = instantiate(cfg.model.optimizer)(params=net.parameters())
    if kind == "regression":
        loss_fn: nn.Module = nn.MSELoss()
    else:
        loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.model.get("label_smoothing", 0.0))
    x, y = random_batch(name, batch_size or cfg.data.batch_size)

    def step(x: torch.Tensor = x, y: torch.Tensor = y) -> None:
        loss = loss_fn(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return net, step


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall s, CPU s) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(name: str, steps: int, blocks: int) -> dict:
    _, eager_step = training_step(name)
    compiled_net, compiled_step = training_step(name)
    compiled_net.compile()
    for _ in range(3):
        eager_step()
    compile_s = timed(compiled_step)[0]
    for _ in range(2):
        compiled_step()
    times: dict[str, list[tuple[float, float]]] = {"eager": [], "compiled": []}
    for _ in range(blocks):
        for kind, step in (("eager", eager_step), ("compiled", compiled_step)):
            times[kind] += [timed(step) for _ in range(steps // blocks)]
    # another batch size, as an epoch's last batch: one more compilation, with dynamic shapes
    batch = compose(NETWORKS[name][0]).data.batch_size
    short = random_batch(name, batch // 2 + 1)
    recompile_s = timed(lambda: compiled_step(*short))[0]
    result = {"compile_s": compile_s, "recompile_s": recompile_s, "batch_size": batch}
    for kind, values in times.items():
        result[f"{kind}_ms"] = 1e3 * statistics.median(v[0] for v in values)
        result[f"{kind}_cpu_ms"] = 1e3 * statistics.median(v[1] for v in values)
        result[f"{kind}_range_ms"] = [1e3 * min(v[0] for v in values),
                                      1e3 * max(v[0] for v in values)]  # fmt: skip
    saved_ms = result["eager_ms"] - result["compiled_ms"]
    result["speedup"] = result["eager_ms"] / result["compiled_ms"]
    result["break_even_steps"] = (
        (compile_s + recompile_s) * 1e3 / saved_ms if saved_ms > 0 else None
    )
    return result


def table(results: dict) -> str:
    rows = [
        "| network (batch) | compile s | recompile s | eager ms/step | compiled ms/step "
        "| eager CPU ms | compiled CPU ms | speedup | break-even steps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["networks"].items():
        even = "never" if r["break_even_steps"] is None else f"{r['break_even_steps']:.0f}"
        rows.append(
            f"| {name} ({r['batch_size']}) | {r['compile_s']:.1f} | {r['recompile_s']:.1f} "
            f"| {r['eager_ms']:.3f} | {r['compiled_ms']:.3f} | {r['eager_cpu_ms']:.3f} "
            f"| {r['compiled_cpu_ms']:.3f} | {r['speedup']:.2f}x | {even} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="where to write the results as JSON")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per network and mode")
    parser.add_argument("--blocks", type=int, default=4, help="alternating blocks of them")
    parser.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)  # as trainer.deterministic=true, the default
    results: dict = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "networks": {},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for name in args.networks:
        print(f"{name} ...", file=sys.stderr)
        results["networks"][name] = measure(name, args.steps, args.blocks)
        results["load_average_after"] = os.getloadavg()
        results["table"] = table(results)
        args.output.write_text(json.dumps(results, indent=2) + "\n")  # so far
    print(results["table"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
