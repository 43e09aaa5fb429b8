"""The training recipes (exp/**/recipe.sh with their stages' recipe/NN-*/params.yaml and
config.yaml) hang together: every stage's files load, each stage warm-starts from the weights
folder of the stage before it, the steps a recipe stops at and averages over lie inside the
stage, every setting is in the yaml (no `musegan train` option that a config key holds), and
the last stage's generator has exactly the variables of the shipped generator. Reads files
only: the recipes' runs themselves take a GPU and hours."""
import re
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest

from musegan.config import load_experiment
from musegan.nets.jax_ops import variable_specs

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted(REPO.glob("exp/**/recipe.sh"))
EXP_DIRS = [p.parent.relative_to(REPO).as_posix() for p in RECIPES]
TRAIN_OPTIONS_IN_CONFIG = ("--steps",)  # `musegan train` options that only override a config key


class Stage:
    """One `if todo N NAME; then ... fi` block of a recipe, with its yaml files."""

    def __init__(self, exp: str, number: int, name: str, lines: List[str]):
        self.exp, self.number, self.name, self.lines = exp, number, name, lines
        self.folder = REPO / exp / "recipe" / name
        self.weights = f"data/recipes/{exp.rsplit('/', 1)[-1]}/{name}"  # recipe_lib.sh's $W/NAME

    def config_params(self) -> Tuple[dict, dict]:
        return load_experiment(self.folder)


def _read(exp: str) -> Tuple[int, List[Stage], Tuple[int, str], List[str]]:
    """(N_STAGES, stages in order, finish's (number, name), the lines outside stage blocks)."""
    text = (REPO / exp / "recipe.sh").read_text()
    source = re.search(r'^source exp/recipe_lib\.sh (\S+) (\d+) "\$@"$', text, re.M)
    assert source and source.group(1) == exp, f"{exp}/recipe.sh: sources recipe_lib.sh for {source and source.group(1)}"
    stages, outside, block = [], [], None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^if todo (\d+) (\S+); then$", line)
        if m:
            block = Stage(exp, int(m.group(1)), m.group(2), [])
            stages.append(block)
        elif line == "fi":
            block = None
        elif line and not line.startswith("#"):
            (block.lines if block else outside).append(line)
    finish = re.search(r"^finish (\d+) (\S+)$", text, re.M)
    assert finish, f"{exp}/recipe.sh: no `finish N NAME` line"
    return int(source.group(2)), stages, (int(finish.group(1)), finish.group(2)), outside


def _chain(exp: str) -> List[Stage]:
    """The recipe's stages in order, with those of exp/default it runs first (`run exp/default/recipe.sh "$RWC" K`)."""
    _, stages, _, outside = _read(exp)
    before = []
    for line in outside:
        m = re.match(r'^run exp/default/recipe\.sh "\$RWC" (\d+)$', line)
        if m:
            before = [s for s in _chain("exp/default") if s.number <= int(m.group(1))]
    return before + stages


@pytest.mark.parametrize("exp", EXP_DIRS)
def test_stages_are_the_recipe_folders_in_order(exp):
    n_stages, stages, finish, _ = _read(exp)
    chain = _chain(exp)
    assert [s.number for s in chain] == list(range(1, n_stages + 1)), f"{exp}: stage numbers {[s.number for s in chain]}"
    assert all(s.name.startswith(f"{s.number:02d}-") for s in chain), [s.name for s in chain]
    assert sorted(p.name for p in (REPO / exp / "recipe").iterdir()) == [s.name for s in stages]
    assert finish == (chain[-1].number, chain[-1].name)
    for s in stages:
        assert any(line == f"setup {s.name}" for line in s.lines), f"{exp}: stage {s.name} is not set up"


@pytest.mark.parametrize("exp", EXP_DIRS)
def test_each_stage_loads_and_starts_from_the_stage_before(exp):
    chain = _chain(exp)
    for before, stage in zip([None] + chain, chain):
        config, _ = stage.config_params()  # a bad key, type or shape raises ConfigError naming the file
        if before is None:
            assert config["init_from"] is None, f"{stage.folder}: the first stage starts from random weights"
        else:
            assert config["init_from"] == before.weights, \
                f"{stage.folder}/config.yaml: init_from {config['init_from']!r}, expected {before.weights!r}"


@pytest.mark.parametrize("exp", EXP_DIRS)
def test_steps_stops_and_averages_lie_inside_each_stage(exp):
    for stage in _read(exp)[1]:
        config, _ = stage.config_params()
        run = f'"$R/{stage.name}"'
        trains = [l for l in stage.lines if l.startswith(f"run musegan train {run} ")]
        assert trains, f"{exp}: stage {stage.name} trains nothing"
        for line in trains:
            assert re.search(r"--backend (tf|jax)\b", line), line
            assert not any(o in line.split() for o in TRAIN_OPTIONS_IN_CONFIG), f"{line}: set it in config.yaml"
        # a stop before the end is a resume with Adam restarting, at that step
        stops = [int(m) for l in trains for m in re.findall(r"--stop-step (\d+)", l)]
        restarts = [int(m) for l in stage.lines for m in re.findall(rf"^restart_adam {re.escape(run)} (\d+)$", l)]
        assert stops == restarts, f"{exp}: stage {stage.name} stops at {stops}, restarts Adam at {restarts}"
        assert all(0 < s < config["steps"] for s in stops), (stops, config["steps"])
        uses_average = any(f"$R/{stage.name}/average/generator.npz" in l for l in stage.lines)
        if config["average_from"] is None:
            assert not uses_average, f"{stage.folder}: the recipe takes an average its config does not make"
        else:
            assert uses_average, f"{stage.folder}: averages (average_from) and the recipe does not use it"
            assert config["average_from"] <= config["steps"], (config["average_from"], config["steps"])


def _generator_shapes(params: dict) -> Dict[str, tuple]:
    return {n: tuple(shape) for n, (shape, _) in variable_specs(params).items() if n.startswith("Generator/")}


@pytest.mark.parametrize("exp", EXP_DIRS)
def test_last_stage_makes_the_shipped_generator(exp):
    """The last stage's weights go beside the shipped params.yaml (recipe_lib.sh `finish`)."""
    _, shipped_params = load_experiment(REPO / exp)
    _, last_params = _chain(exp)[-1].config_params()
    with np.load(REPO / exp / "pretrained" / "generator.npz") as shipped:
        files = {n: shipped[n].shape for n in shipped.files}
    assert _generator_shapes(last_params) == files
    assert _generator_shapes(shipped_params) == files
