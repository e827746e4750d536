"""The packages of src/litlab form layers and import one way, down them (GUIDE.md §1): read from
the source with ``ast``, every import counted -- function-level ones too, and
``import_module("litlab...")`` calls -- unless the allowlist below gives its reason."""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "litlab"

# Top first; a unit (a package, or a top-level module) imports only units of lower layers, or
# modules of its own unit. Units in one layer may import each other, without a cycle.
LAYERS: list[tuple[str, set[str]]] = [
    ("old paths (deprecated aliases, imported by nothing)", {"runs", "search"}),
    ("the litlab verbs", {"cli", "__main__"}),
    ("sweeps and search", {"sweeps"}),
    ("the run (train.py's run(cfg), its callbacks, its checks and reports)",
     {"run", "callbacks", "validation", "console", "tensorboard", "trackers", "hparams",
      "seeding"}),  # fmt: skip
    ("the run folder", {"run_folder"}),
    ("models", {"models"}),
    ("several optimizer steps per call", {"multistep"}),
    ("data", {"data"}),
    ("helpers", {"errors", "config_types", "value_rules", "deprecation", "cuda_check",
                 "checkpoint_io", "plotting", "image_grids", "metric_mode"}),  # fmt: skip
]  # fmt: skip
LAYER_OF = {unit: rank for rank, (_, units) in enumerate(LAYERS) for unit in units}

# The package root is imported first by everything: it registers the ${litlab.rank_folder:...}
# resolvers (litlab.run_folder.ranks) wherever Hydra resolves a run's folder, and
# ${litlab.optuna_direction:...} (litlab.metric_mode).
ROOT_IMPORTS = {"litlab.run_folder.ranks", "litlab.metric_mode"}

# Function-level imports across units, each with the reason it is not at module level.
LAZY_ALLOWED: dict[tuple[str, str], str] = {
    ("litlab.cli.revisit", "litlab.sweeps.resume"): (
        "start-up time: Optuna and Hydra's sweeper load only for `litlab resume` of a sweep"
    ),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = SRC.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "litlab"


def imports_of(path: Path) -> list[tuple[str, bool, int]]:
    """(imported litlab module, whether at function level, line) for one source file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_level = {id(node) for node in ast.iter_child_nodes(tree)}
    for node in ast.walk(tree):  # a module-level try/if block is module level too
        if isinstance(node, ast.If | ast.Try) and id(node) in module_level:
            module_level |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from litlab import metric_mode` imports the module litlab.metric_mode
            names = [
                f"{node.module}.{alias.name}" if is_module(f"{node.module}.{alias.name}")
                else node.module
                for alias in node.names
            ]  # fmt: skip
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            if name == "litlab" or name.startswith("litlab."):
                found.append((name, id(node) not in module_level, node.lineno))
    return found


def edges() -> list[tuple[str, str, bool, str]]:
    """(importer, imported, lazy, where) for every import between two units."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        importer = module_name(path)
        for imported, lazy, line in imports_of(path):
            if unit_of(importer) != unit_of(imported):
                where = f"{path.relative_to(SRC.parents[1])}:{line}"
                found.append((importer, imported, lazy, where))
    return found


EDGES = edges()


def shown(edge: tuple[str, str, bool, str]) -> str:
    importer, imported, lazy, where = edge
    return f"{importer} -> {imported}{' (function-level)' if lazy else ''}  [{where}]"


def test_every_package_and_module_has_a_layer():
    units = {unit_of(module_name(path)) for path in SRC.rglob("*.py")} - {"litlab"}
    assert units - set(LAYER_OF) == set(), "give each new package/module a layer in LAYERS"


def test_imports_run_down_the_layers_only():
    upward = [
        shown(edge)
        for edge in EDGES
        if unit_of(edge[0]) != "litlab"
        and (edge[0], edge[1]) not in LAZY_ALLOWED
        and LAYER_OF.get(unit_of(edge[1]), -1) < LAYER_OF.get(unit_of(edge[0]), -1)
    ]
    assert upward == [], "imports up the layers:\n" + "\n".join(upward)


def test_the_package_root_imports_only_what_it_registers():
    root = {edge[1] for edge in EDGES if edge[0] == "litlab"}
    assert root <= ROOT_IMPORTS, f"litlab/__init__.py imports {sorted(root - ROOT_IMPORTS)}"


def test_no_import_cycle_between_units():
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported, _, _ in EDGES:
        if unit_of(importer) != "litlab" and (importer, imported) not in LAZY_ALLOWED:
            graph[unit_of(importer)].add(unit_of(imported))

    def path_back(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            unit, trail = stack.pop()
            for nxt in graph[unit]:
                if nxt == start:
                    return [*trail, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
        return None

    cycles = [" -> ".join(cycle) for unit in sorted(graph) if (cycle := path_back(unit))]
    assert cycles == [], "import cycles between units:\n" + "\n".join(cycles)


def test_function_level_imports_across_units_are_listed_with_their_reason():
    lazy = {(edge[0], edge[1]): edge for edge in EDGES if edge[2]}
    unlisted = [shown(edge) for key, edge in lazy.items() if key not in LAZY_ALLOWED]
    assert unlisted == [], (
        "function-level imports across units (move them to module level, or list them in "
        "LAZY_ALLOWED with the start-up time they save):\n" + "\n".join(unlisted)
    )
    stale = sorted(set(LAZY_ALLOWED) - set(lazy))
    assert stale == [], f"LAZY_ALLOWED lists imports that are gone: {stale}"


@pytest.mark.parametrize("package", ["multistep", "run_folder", "sweeps", "cli"])
def test_each_layered_package_opens_with_what_it_owns_and_may_import(package):
    doc = ast.get_docstring(ast.parse((SRC / package / "__init__.py").read_text())) or ""
    assert "May import" in doc or "may import" in doc, f"litlab/{package}/__init__.py"
