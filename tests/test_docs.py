"""The README and the guides in docs/ stay true: the README stays a short front door, the site's
nav and its pages agree, every relative link and snippet points at something that exists, and every
``python train.py ...`` / ``litlab ...`` command they show names config groups, options, keys and
verbs that exist. Cheap: no run, no build (the build is ``mkdocs build --strict`` in .ci/run)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra._internal.config_repository import ConfigRepository
from hydra._internal.utils import create_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.plugins import Plugins
from omegaconf import DictConfig, OmegaConf

from tests.conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
EXAMPLE_CONF = REPO / "examples" / "my_experiments" / "conf"
PAGES = sorted(DOCS.rglob("*.md"))
DOCUMENTS = [README, *PAGES]

SNIPPET = re.compile(r'^--8<-- "([^"]+)"\s*$', re.MULTILINE)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")  # [text](target), not images
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")
HEADING = re.compile(r"^#{1,6} (.+?)\s*$", re.MULTILINE)
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}


def name(path: Path) -> str:
    return str(path.relative_to(REPO))


# --- the text a reader sees: snippets included, code blocks apart --------------------------------


def section(text: str, label: str) -> str:
    """The lines between ``--8<-- [start:label]`` and ``[end:label]`` (pymdownx.snippets)."""
    found = re.search(rf"^.*--8<-- \[start:{label}\].*\n(.*?)^.*--8<-- \[end:{label}\]", text,
                      re.MULTILINE | re.DOTALL)  # fmt: skip
    assert found, f"no section {label!r} (--8<-- [start:{label}] ... [end:{label}])"
    return found.group(1)


def snippet(target: str) -> str:
    """What ``--8<-- "target"`` includes; paths are from the repository root (mkdocs.yml)."""
    path, _, label = target.partition(":")
    assert (REPO / path).is_file(), f"snippet {target!r}: no file {path}"
    text = (REPO / path).read_text()
    return section(text, label) if label else text


@cache
def expanded(path: Path) -> str:
    """The page as the site shows it: its snippets included (README: as it stands)."""
    text = path.read_text()
    return SNIPPET.sub(lambda found: snippet(found.group(1)), text) if path != README else text


def without_code(text: str) -> str:
    return FENCE.sub("", text)


def slugs(text: str) -> set[str]:
    """Heading anchors as MkDocs (python-markdown's toc) and GitHub make them."""
    out = set()
    for heading in HEADING.findall(without_code(text)):
        plain = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
        out |= {re.sub(r"[-\s]+", "-", plain), re.sub(r"\s", "-", plain)}  # MkDocs, GitHub
    return out


# --- README and the site's nav ------------------------------------------------------------------


def test_readme_is_a_short_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; the guides belong in docs/"
    text = README.read_text()
    for command in ("pytest", 'pytest -m "cluster and slow"', "tensorboard --logdir outputs"):
        assert command in text  # .ci/run runs the test command the README gives
    for page in PAGES:  # every guide is reachable from the front door, or what it shows is
        shown = [name(page), *SNIPPET.findall(page.read_text())]
        assert any(f"({target})" in text for target in shown), f"README links no {name(page)}"


def nav_files(entries: list) -> Iterator[str]:
    for entry in entries:
        value = entry if isinstance(entry, str) else next(iter(entry.values()))
        if isinstance(value, list):
            yield from nav_files(value)
        elif not re.match(r"\w+://", value):
            yield value


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    nav = list(nav_files(config["nav"]))
    assert len(nav) == len(set(nav)), "a page is in the nav twice"
    pages = {str(page.relative_to(DOCS)) for page in PAGES}
    assert sorted(set(nav) - pages) == [], "nav entries without a page in docs/"
    assert sorted(pages - set(nav)) == [], "pages in docs/ that mkdocs.yml's nav leaves out"


def test_readme_sections_the_site_includes_exist_and_hold_no_links():
    """docs/ includes parts of README.md: links there would point elsewhere on the site."""
    for page in PAGES:
        for target in SNIPPET.findall(page.read_text()):
            included = snippet(target)
            if target.startswith("README.md:"):
                assert not LINK.search(included), f"{name(page)} includes {target}, with links"


# --- links --------------------------------------------------------------------------------------


def links() -> Iterator[tuple[Path, str]]:
    for document in DOCUMENTS:
        for target in LINK.findall(without_code(expanded(document))):
            if not re.match(r"(\w+:|//)", target):  # http(s)://, mailto:
                yield document, target


@pytest.mark.parametrize("document", DOCUMENTS, ids=name)
def test_every_relative_link_points_at_an_existing_file_and_heading(document):
    bad = []
    for source, target in links():
        if source != document:
            continue
        path, _, anchor = target.partition("#")
        file = (source.parent / path).resolve() if path else source
        if not file.exists():
            bad.append(f"{target}: no such file")
        elif source in PAGES and DOCS not in file.parents:
            bad.append(f"{target}: outside docs/ (the site has only docs/; include it instead)")
        elif anchor and file.suffix == ".md" and anchor not in slugs(expanded(file)):
            bad.append(f"{target}: {name(file)} has no heading #{anchor}")
    assert bad == [], f"{name(document)}: " + "; ".join(bad)


# --- the files and tests they name ---------------------------------------------------------------

# Where a path in prose is read from: the repository, src/, the package (``models/mlp.py``), and the
# example's folder (``conf/model/blobs.yaml`` on its page), benchmarks/ (its README's results/).
ROOTS = [REPO, REPO / "src", REPO / "src" / "litlab", REPO / "examples" / "my_experiments",
         REPO / "benchmarks"]  # fmt: skip
PATH = re.compile(r"(?<![\w<./-])((?:[\w-]+/)+[\w-]+\.(?:py|yaml|sh|json|md))(?:::(\w+))?")
TEST = re.compile(r"^(test_[a-z0-9]+_\w+)$")  # test_a_b...: not Lightning's test_step


@cache
def sources_of_tests() -> str:
    return "\n".join(path.read_text() for path in (REPO / "tests").rglob("*.py"))


@pytest.mark.parametrize("document", DOCUMENTS, ids=name)
def test_every_source_file_and_test_named_exists(document):
    """A path like ``runs/sweep_job.py`` or ``tests/test_x.py::test_y`` in a code span names a
    file (and function) that exists; a bare ``test_...`` a test in tests/. A module moved or a
    test renamed makes its mention stale: this says which."""
    bad = []
    for span in SPAN.findall(without_code(expanded(document))):
        for path, function in PATH.findall(span):
            file = next((root / path for root in ROOTS if (root / path).is_file()), None)
            if file is None and not re.match(r"(outputs|data|site)/", path):
                bad.append(f"{path}: no such file")
            elif file and function and not re.search(rf"def {function}\b", file.read_text()):
                bad.append(f"{path}::{function}: no such test")
        for function in TEST.findall(span.strip()):
            if not re.search(rf"def {function}\b", sources_of_tests()):
                bad.append(f"{function}: no such test in tests/")
    assert bad == [], f"{name(document)}: " + "; ".join(bad)


# --- the commands they show ---------------------------------------------------------------------


def command_lines(text: str) -> Iterator[str]:
    """Each shell line of the text's shell code blocks (continuations joined), and each code
    span that is a whole command."""
    for language, block in FENCE.findall(text):
        if language in SHELL_FENCES:
            yield from block.replace("\\\n", " ").splitlines()
    for span in SPAN.findall(without_code(text)):
        yield " ".join(span.split())


ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def commands() -> Iterator[tuple[str, str, list[str]]]:
    """(document, line, tokens from the program on) of every train.py and litlab command."""
    for document in DOCUMENTS:
        for line in command_lines(expanded(document)):
            line = line.strip().removeprefix("$ ")
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:
                continue  # not shell: a sentence in backticks
            while tokens and ENV.match(tokens[0]):
                tokens.pop(0)  # MASTER_ADDR=... python train.py
            for i, token in enumerate(tokens):
                if token.endswith("train.py") and i > 0 and tokens[0] in ("python", "torchrun"):
                    yield name(document), line, tokens[i:]
                    break
            else:
                if tokens[:1] == ["litlab"]:
                    yield name(document), line, tokens


TRAIN_FLAGS_WITH_VALUE = {"--cfg", "-c", "--config-dir", "-cd", "--package", "-p"}


def parse(tokens: list[str]) -> tuple[str | None, list[str], bool]:
    """(litlab verb or None, the overrides, whether a --config-dir of a user's own is given)."""
    verb, overrides, example, args = None, [], False, iter(tokens[1:])
    for token in args:
        if token in TRAIN_FLAGS_WITH_VALUE:
            next(args, "")
            example |= token in ("--config-dir", "-cd")  # a user's configs: the example's stand in
        elif token.startswith("-"):
            continue
        elif tokens[0] == "litlab" and verb is None:
            verb = token
        elif "=" in token or token.startswith("~"):
            overrides.append(token)
    return verb, overrides, example


@cache
def is_verb(verb: str) -> bool:
    """``litlab VERB --help`` exits 0 (the command's own parser; its help is not printed)."""
    from litlab.cli import main  # the entry point of ``litlab`` (pyproject.toml)

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main([verb, "--help"])
        except SystemExit as exit_info:
            return exit_info.code == 0
    return False


@cache
def repository(example: bool) -> ConfigRepository:
    """Hydra's view of the config groups: conf/, installed plugins, the example's conf."""
    Plugins.instance()  # registers the plugins' configs (hydra/launcher=joblib, ...)
    search_path = create_config_search_path(f"file://{REPO / 'conf'}")
    if example:
        search_path.append("example", f"file://{EXAMPLE_CONF}")
    return ConfigRepository(search_path)


def placeholder(value: str) -> bool:
    return "<" in value or value in ("", "RUN", "DIR")


def split_override(token: str) -> tuple[str, str, str]:
    prefix = re.match(r"^(\+\+|\+|~)?", token).group(0)
    key, _, value = token[len(prefix) :].partition("=")
    return prefix, key, value


def options(value: str) -> list[str]:
    """A group override's options: ``a``, a sweep ``a,b``, a list ``[a,b]``."""
    return [part.strip() for part in value.strip("[]").split(",") if part.strip()]


def is_group(key: str, repo: ConfigRepository) -> bool:
    return "/" in key or "@" in key or ("." not in key and repo.group_exists(key))


@cache
def composed(groups: tuple[str, ...], example: bool) -> DictConfig:
    extra = [f"hydra.searchpath=[file://{EXAMPLE_CONF}]"] if example else []
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=[*extra, *groups], return_hydra_config=True)


def exists(cfg: DictConfig, key: str) -> bool:
    """``key`` is in the config (``???`` included: a value left to set is there)."""
    parent, _, last = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, throw_on_resolution_failure=False) if parent else cfg
    return isinstance(node, DictConfig) and last in node.keys()  # noqa: SIM118 - `in` skips ???


def problems(tokens: list[str]) -> list[str]:
    """What in one command names nothing that exists."""
    verb, overrides, example = parse(tokens)
    found = []
    if tokens[0] == "litlab":
        if verb is None or verb.startswith("<"):
            return []
        if not is_verb(verb):
            return [f"litlab {verb}: no such verb"]
    repo = repository(example)
    groups, keys = [], []
    for token in overrides:
        prefix, key, value = split_override(token)
        if is_group(key, repo):
            group = key.split("@")[0]
            if not repo.group_exists(group):
                found.append(f"{token}: no config group {group}")
                continue
            for option in options(value):
                if not placeholder(option) and option not in repo.get_group_options(group):
                    found.append(f"{token}: no option {option} in {group}/")
            if not placeholder(value) and not found:
                groups.append(f"{prefix}{key}={options(value)[0]}")
        else:
            keys.append((prefix, key))
    if found:
        return found
    for prefix, key in keys:
        # ``+a.b.c`` adds the nodes it needs; a rerun/resume changes a stored config, whose
        # groups (a sweep's sweeper, ...) the defaults lack: the node above the key must exist
        top = key.split(".")[0] if prefix else key.rpartition(".")[0] if verb else key
        if not top or exists(composed((), example), top):  # the defaults: one compose, cheap
            continue
        if not exists(composed(tuple(groups), example), top):
            found.append(f"{prefix}{key}: {top} is not in the config "
                         f"(with {' '.join(groups) or 'the defaults'})")  # fmt: skip
    return found


def test_the_guides_show_the_everyday_commands():
    shown = [" ".join(tokens) for _, _, tokens in commands()]
    assert len(shown) > 50  # the extraction finds the commands it checks
    verbs = {parse(tokens)[0] for _, _, tokens in commands() if tokens[0] == "litlab"}
    assert {"runs", "diff", "rerun", "resume", "summary"} <= verbs


def test_every_command_names_groups_options_keys_and_verbs_that_exist():
    bad = [f"{document}: {line}\n    -> {'; '.join(found)}"
           for document, line, tokens in commands() if (found := problems(tokens))]  # fmt: skip
    GlobalHydra.instance().clear()
    assert bad == [], "stale commands:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "line",
    [
        "python train.py experiment=fashoin",  # no such option
        "python train.py trainer=tpu",
        "python train.py trainer.max_epoch=3",  # no such key
        "python train.py -m hydra/launcher=slurmm seed=1,2",
        "python train.py model/netz=cnn",  # no such group
        "litlab rerunn outputs/x train=false",  # no such verb
        "python <litlab>/train.py --config-dir my_experiments/conf experiment=blobs model.lrr=1",
    ],
)
def test_a_stale_command_is_caught(line):
    assert problems(shlex.split(line)) != []
    GlobalHydra.instance().clear()


def test_a_true_command_passes():
    for line in [
        "python train.py -m hparams_search=fashion_optuna hydra/launcher=joblib "
        "hydra.launcher.n_jobs=2 hydra.sweeper.n_jobs=2",
        "python <litlab>/train.py --config-dir my_experiments/conf experiment=blobs model.lr=0.1",
        "litlab resume RUN hydra/launcher=joblib +trainer.max_time=00:01:00:00",
    ]:
        assert problems(shlex.split(line)) == [], line
    GlobalHydra.instance().clear()


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    """``mkdocs build --strict`` as .ci/run runs it: every link, anchor and snippet resolves."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        pytest.skip('mkdocs is not installed: pip install -e ".[docs]"')
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "site" / "own-experiment" / "index.html").read_text()
    assert "LightningDataModule" in page and "blobs_optuna.yaml" in page  # the example's files
