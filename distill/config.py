"""``DistillConfig``: everything one distillation run depends on, frozen and validated.

Built from a preset (``presets/<env-slug>.toml``), an optional user TOML file and
CLI overrides, in that order. The resolved config is written into the run
directory and into every dataset it produces, so a run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from hades_zoo import bounds, schema
from distill.tasks import get_task
from hades_zoo.tasks import DEFAULT_KIND
from hades_zoo.tasks import get_task as get_kind
from hades_zoo.errors import ConfigError
from hades_zoo.recipe import METRICS, NORM_KINDS, Protocol, Recipe, resets_unneeded

SHAPINGS = ("raw", "centered_rank", "z_score", "default")
OPTIMIZERS = ("adam", "sgd")
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]  # a finite number > 0


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    env: str = ""  # RL: env id or slug
    method: str = "r"  # "r" (random init per evaluation) | "f" (one fixed init)
    size: int = 4  # state-action pairs
    generations: int = 100
    popsize: int = 64
    strategy: str = "Open_ES"
    sigma: Positive = 0.1
    es_lr: Positive = 0.05
    optimizer: str = "adam"
    antithetic: bool = True
    fitness_shaping: str = "centered_rank"
    rollouts: Annotated[int, Field(ge=1, le=bounds.MAX_NUM_SEEDS)] = 2  # BC runs (fresh init each for HaDES-R) per candidate
    common_keys: bool = False  # same env starts and inits for every candidate of a generation
    obs_norm: str = "const"  # const: stats of random-policy rollouts; running: the paper's brax
    norm_envs: Annotated[int, Field(ge=1, le=bounds.MAX_EVAL_ENVS)] = 16
    norm_steps: Annotated[int, Field(ge=1, le=bounds.MAX_EVAL_STEPS)] = 256
    init: str = "zeros"  # ES mean: zeros (paper) or states visited by a random policy
    init_seed: int = 0  # HaDES-F: the one policy initialisation
    learn_labels: bool = False
    seed: int = 0
    chunk: Annotated[int, Field(ge=1, le=bounds.MAX_GENERATIONS)] = 10  # generations per jitted lax.scan; checkpoints at chunk ends
    eval_seeds: Annotated[int, Field(ge=1, le=bounds.MAX_NUM_SEEDS)] = 8
    eval_protocol: str = "episodes"
    recipe: dict[str, Any] = dataclasses.field(default_factory=dict)
    # BC steps of each candidate's policies during the search (0: the recipe's epochs). A speed lever
    # that changes the fitness (issue 21): the datasets keep the recipe, so they are evaluated, and
    # trained by users, with its full epochs.
    search_bc_steps: Annotated[int, Field(ge=0, le=bounds.MAX_BC_STEPS)] = 0
    # false: the fitness rollouts step their envs without the auto-reset (``Env.step_no_reset``), a speed
    # lever (issue 21): nothing after an env's first episode reaches a ``first_episode`` score, so the
    # arithmetic is the same, but XLA compiles the step into another program and rounds some states
    # differently in the last bits, so runs are not bit-identical to the default's.
    fitness_reset: bool = True
    fitness_protocol: dict[str, Any] = dataclasses.field(default_factory=dict)
    # image tasks (distill/tasks/image.py): size = images per class, eval_protocol/norm_* unused
    task: str = "rl"  # "rl" | "image-classification"
    dataset: str = ""  # image dataset id: digits, mnist, fashion-mnist
    image_fitness: str = "loss"  # -cross-entropy or accuracy of the inner classifiers on the held-out split
    image_batch: Annotated[int, Field(ge=0, le=bounds.MAX_DATASET_PAIRS)] = 0  # held-out images drawn per fitness evaluation (0: the whole split)
    data_path: str = ""  # read the images from this local copy / hub id instead of the default source

    def __post_init__(self):
        # types and ranges of every field (hades_zoo.schema): `size = 4.5`, `es_lr = inf`, `eval_seeds = 0`
        schema.check_fields(self, "config", ConfigError, "fix it in the config file or the command line")
        kind = get_task(self.task)
        spec = self.spec
        object.__setattr__(self, kind.target, spec.env_id)
        self._check_bounds(spec)
        checks = [
            (self.method in ("r", "f"), f"method must be 'r' or 'f', got {self.method!r}"),
            (self.size >= 1, "size must be >= 1"),
            (self.generations >= 1, "generations must be >= 1"),
            (self.popsize >= 2 and self.popsize % 2 == 0, f"popsize must be an even number >= 2, got {self.popsize}"),
            (self.sigma > 0 and self.es_lr > 0, "sigma and es_lr must be positive"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.fitness_shaping in SHAPINGS, f"fitness_shaping must be one of {SHAPINGS}"),
            (self.rollouts >= 1, "rollouts must be >= 1"),
            (self.method == "f" or self.rollouts >= 2, "HaDES-R needs rollouts >= 2 (fresh inits per candidate)"),
            (self.obs_norm in NORM_KINDS, "obs_norm must be const, running or none"),
            (self.init in kind.inits, f"init must be one of {kind.inits}"),
            (self.image_batch >= 0, "image_batch must be >= 0"),
            (self.chunk >= 1, "chunk must be >= 1"),
            (not self.learn_labels or spec.discrete, "learn_labels needs a discrete-action env"),
            (self.fitness_reset or resets_unneeded(self.protocol, self.obs_norm),
             "fitness_reset = false needs the first_episode fitness metric and obs_norm const or none"),
            *kind.checks(self),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"config: {msg}")
        for table, prop in (("recipe", "bc_recipe"), ("fitness_protocol", "protocol")):  # validates both tables
            try:
                getattr(self, prop)
            except ConfigError as e:
                raise ConfigError(f"config: [{table}] {e}") from None

    def _check_bounds(self, spec) -> None:
        """Sizes within ``hades_zoo.bounds``, checked before anything reaches XLA."""
        for what, hi, name in (("size", bounds.MAX_DATASET_PAIRS, "MAX_DATASET_PAIRS"),
                               ("generations", bounds.MAX_GENERATIONS, "MAX_GENERATIONS"),
                               ("popsize", bounds.MAX_POPULATION, "MAX_POPULATION")):
            bounds.check_int(f"config: {what}", getattr(self, what), 1, hi, f"hades_zoo.bounds.{name}")
        bounds.check_seed("config: seed", self.seed)
        bounds.check_seed("config: init_seed", self.init_seed)
        per_pair = spec.obs_dim + spec.action_dim  # states plus actions or learned labels
        pairs = self.size * get_task(self.task).items_per_size(spec)  # image tasks: size per class
        if pairs > bounds.MAX_DATASET_PAIRS:
            raise ConfigError(f"config: {pairs} images is over the bound of {bounds.MAX_DATASET_PAIRS} "
                              "(hades_zoo.bounds.MAX_DATASET_PAIRS)")
        bounds.check_es_size(self.popsize, pairs * per_pair)

    @property
    def spec(self):
        """The env's ``EnvSpec``, or the image dataset's ``ImageSpec``."""
        return get_kind(self.task).get_spec(getattr(self, get_task(self.task).target))

    @property
    def bc_recipe(self) -> Recipe:
        base = get_kind(self.task).default_recipe(self.spec).to_dict()
        base.update(self.recipe)
        return Recipe.from_dict(base)

    @property
    def search_recipe(self) -> Recipe:
        """The recipe of the search's inner loop: ``bc_recipe`` with ``search_bc_steps`` steps, when set."""
        recipe = self.bc_recipe
        return dataclasses.replace(recipe, epochs=self.search_bc_steps) if self.search_bc_steps else recipe

    @property
    def protocol(self) -> Protocol:
        """The fitness protocol: greedy full episodes from reset, few envs (cheap, low noise)."""
        d = {"name": "fitness", "n_envs": 4, "n_steps": None, "sample_actions": False, "metric": "first_episode"}
        d.update(self.fitness_protocol)
        if d["metric"] not in METRICS:
            raise ConfigError(f"config: fitness_protocol metric must be one of {METRICS}")
        return Protocol.from_dict(d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        lines, tables = [], []
        for k, v in self.to_dict().items():
            if isinstance(v, dict):
                tables.append((k, v))
            else:
                lines.append(f"{k} = {_toml_value(v)}")
        for name, table in tables:
            lines.append(f"\n[{name}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
        return "\n".join(lines) + "\n"


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if v is None:
        raise ConfigError("config values cannot be None in TOML")
    return repr(v)


def read_toml(path: str | Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None


def _fields_named(message: str) -> list[str]:
    """The config keys an error message names (``field 'es_lr'``, ``config: seed ...``)."""
    return [f.name for f in dataclasses.fields(DistillConfig)
            if f"'{f.name}'" in message or f"[{f.name}]" in message or f"config: {f.name} " in message]


def preset(env: str, task: str = "rl") -> dict:
    """The preset for an env or image dataset (``presets/<slug>.toml``), or {} when there is none."""
    slug = get_kind(task).get_spec(env).slug
    res = resources.files("distill") / "presets" / f"{slug}.toml"
    return tomllib.loads(res.read_text()) if res.is_file() else {}


def build_config(env: str | None = None, config_file: str | None = None, **overrides) -> DistillConfig:
    """preset(env or dataset) <- config file <- overrides (None values are ignored)."""
    user = read_toml(config_file) if config_file else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    task = given.get("task") or user.get("task") or DEFAULT_KIND
    kind = get_task(task)
    if kind.target != "env" and env:  # the env argument belongs to the RL task alone
        raise ConfigError(kind.missing)
    target = env if kind.target == "env" and env else given.get(kind.target) or user.get(kind.target)
    if not target:
        raise ConfigError(kind.missing)
    merged = {**preset(target, task), **user, **given, "task": task, kind.target: target}
    fields = {f.name for f in dataclasses.fields(DistillConfig)}
    unknown = set(merged) - fields
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; known: {sorted(fields)}")
    try:
        return DistillConfig(**merged)
    except TypeError as e:
        raise ConfigError(f"bad config: {e}") from None
    except ConfigError as e:
        if config_file and any(k in user for k in _fields_named(str(e))):
            raise ConfigError(f"{config_file}: {e}") from None
        raise
