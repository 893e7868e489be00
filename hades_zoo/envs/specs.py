"""Static facts about every supported environment.

Kept free of brax/gymnax imports so that validating a dataset file, listing the
catalog or parsing a name never pays for importing a simulator.
"""

from __future__ import annotations

import dataclasses

from hades_zoo.errors import UnknownEnvError, close_matches


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """What a dataset for this env must look like, and how its env is built.

    ``action_low``/``action_high`` map policy actions in [-1, 1] onto the env's
    own range for continuous envs (identity for brax).
    """

    env_id: str
    family: str  # "brax" | "gymnax"
    slug: str
    obs_shape: tuple[int, ...]
    discrete: bool
    action_dim: int  # continuous: action dims; discrete: number of actions
    episode_length: int
    action_low: float = -1.0
    action_high: float = 1.0
    minatar: bool = False  # the authors' MinAtar script's protocol and recipe (MinAtar games, Pong-misc)

    @property
    def obs_dim(self) -> int:
        n = 1
        for d in self.obs_shape:
            n *= d
        return n

    @property
    def backend(self) -> str:
        return "brax-positional" if self.family == "brax" else "gymnax"


def _brax(env_id, obs, act, slug=None):
    return EnvSpec(env_id, "brax", slug or env_id.replace("_", "-"), (obs,), False, act, 1000)


def _minatar(name, channels, n_actions):
    return EnvSpec(
        f"{name}-MinAtar", "gymnax", f"{name.lower()}-minatar", (10, 10, channels), True,
        n_actions, 2500 if name == "Freeway" else 1000, minatar=True,
    )


ENV_SPECS: dict[str, EnvSpec] = {
    s.env_id: s
    for s in [
        _brax("hopper", 11, 3),
        _brax("walker2d", 17, 6),
        _brax("halfcheetah", 17, 6),
        _brax("ant", 27, 8),
        _brax("humanoid", 244, 17),
        _brax("humanoidstandup", 244, 17),
        _brax("inverted_double_pendulum", 8, 1),
        _brax("reacher", 11, 2),
        EnvSpec("CartPole-v1", "gymnax", "cartpole", (4,), True, 2, 500),
        EnvSpec("Acrobot-v1", "gymnax", "acrobot", (6,), True, 3, 500),
        EnvSpec("Pendulum-v1", "gymnax", "pendulum", (3,), False, 1, 200, -2.0, 2.0),
        EnvSpec("MountainCar-v0", "gymnax", "mountaincar", (2,), True, 3, 200),
        EnvSpec("MountainCarContinuous-v0", "gymnax", "mountaincar-continuous", (2,), False, 1, 999),
        _minatar("Breakout", 4, 3),
        _minatar("Asterix", 4, 5),
        _minatar("Freeway", 7, 3),
        _minatar("SpaceInvaders", 6, 4),
        # gymnax's misc Pong (the authors' HaDES-F D3 run): 30x40x3 frames, 3 actions, unnormalised;
        # the authors ran it with their MinAtar script, so it takes MinAtar's paper protocol and recipe.
        EnvSpec("Pong-misc", "gymnax", "pong-misc", (30, 40, 3), True, 3, 1000, minatar=True),
    ]
}
_BY_SLUG = {s.slug: s for s in ENV_SPECS.values()}


def get_spec(env: str) -> EnvSpec:
    """Look an env up by upstream id (``CartPole-v1``) or slug (``cartpole``)."""
    if env in ENV_SPECS:
        return ENV_SPECS[env]
    key = env.lower()
    for spec in ENV_SPECS.values():
        if key in (spec.env_id.lower(), spec.slug):
            return spec
    raise UnknownEnvError(
        f"unknown environment {env!r}.{close_matches(env, list(ENV_SPECS) + list(_BY_SLUG))}"
        f" Supported: {', '.join(ENV_SPECS)}."
    )
