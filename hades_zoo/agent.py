"""``TrainedPolicy``: behaviour-cloned policies that carry everything they need to act.

A policy trained on a dataset acts in the dataset's observation space, so acting by hand needs
more than the network: the env and its dynamics, the observation normalisation (kind, eps and
statistics) and the action post-processing. ``TrainedPolicy`` holds them all, so that a hand-written
loop reproduces ``evaluate`` and a saved file (``hades_zoo.policy_file``) acts without the dataset.

Acting::

    state = trained.reset_state()                 # the normalisation statistics of one rollout
    action, state = trained.act(obs, state)       # obs: one observation or a batch (n_envs, ...)

``running`` normalisation (the authors' brax datasets) merges each whole batch of observations
into the statistics before normalising it, as the evaluation rollout does at every step (reset
batch included, carried across auto-resets): so feed ``act`` the batch you step, every step.
For ``const``/``none`` the state passes through unchanged and ``trained.act(obs)`` works alone;
on a ``running`` policy that stateless form raises ``StatefulPolicyError``: keep the state, or
``trained.freeze()`` the statistics gathered over an evaluation into a stateless policy.

Actions are in the policy's space, what ``trained.env().step`` takes; ``to_env_action`` clips and
rescales them (``int`` for discrete envs) for the simulator itself. ``as_numpy()`` is the greedy
policy as a function of numpy arrays.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo import envs
from hades_zoo import format as fmt
from hades_zoo import policy_file, schema
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError, IncompatibleDatasetError, StatefulPolicyError
from hades_zoo.policies import MLP, Policy, make_policy
from hades_zoo.recipe import NormState, ObsNorm, Protocol, Recipe, get_protocol
from hades_zoo.rollout import make_norm_stats
from hades_zoo.tasks import get_task


@dataclasses.dataclass(eq=False, repr=False)
class TrainedPolicy:
    """``num_seeds`` policies behaviour-cloned on one dataset (params stacked on axis 0).

    Built by ``hades_zoo.train`` (or read by ``hades_zoo.load_policy``). The fields after
    ``timing`` default to the dataset's; a loaded policy has them without a dataset.
    """

    policy: Policy
    params: Any
    dataset: SyntheticDataset | None
    recipe: Recipe
    arch: str
    seeds: list[int]
    timing: dict = dataclasses.field(default_factory=dict)
    env_id: str | None = None
    task: str | None = None
    dynamics: str | None = None
    protocol: Protocol | None = None
    norm: ObsNorm | None = None
    norm_state: NormState | None = None  # const: the dataset's; frozen: per seed, stacked on axis 0
    frozen: dict | None = None  # how frozen statistics were gathered (protocol, seed); None: not frozen
    info: dict = dataclasses.field(default_factory=dict)  # dataset name/revision/sha256, versions, returns
    teacher: "TrainedPolicy | None" = dataclasses.field(default=None, repr=False, compare=False)  # transfer: the own recipe

    def __post_init__(self):
        ds = self.dataset
        if ds is None:
            missing = [k for k in ("env_id", "task", "dynamics", "protocol", "norm") if getattr(self, k) is None]
            if missing:
                raise ConfigError(f"a TrainedPolicy without a dataset needs {', '.join(missing)}")
        else:
            for k, v in (("env_id", ds.env_id), ("task", ds.task), ("dynamics", ds.dynamics),
                         ("protocol", ds.protocol), ("norm", ds.norm)):
                if getattr(self, k) is None:
                    setattr(self, k, v)
            if self.norm_state is None:
                self.norm_state = ds.norm_state()
            self.info = {"dataset": _dataset_info(ds), "versions": dict(ds.versions or {}), **self.info}
        if self.norm_state is None:
            self.norm_state = self.norm.init_state(self.policy.obs_dim)

    def __repr__(self) -> str:
        name = (self.info.get("dataset") or {}).get("name") or self.env_id
        frozen = ", frozen" if self.frozen else ""
        return (f"TrainedPolicy({name!r}, env={self.env_id!r}, arch={self.arch!r}, seeds={self.seeds}, "
                f"obs_norm={self.norm.kind!r}{frozen})")

    @property
    def num_seeds(self) -> int:
        return len(self.seeds)

    @property
    def spec(self):
        """The env's (or image task's) spec: observation shape, action size, kind."""
        return get_task(self.task).get_spec(self.env_id)

    def params_of(self, index: int = 0):
        return jax.tree.map(lambda x: x[index], self.params)

    def env(self) -> envs.Env:
        """The env this policy acts in (``hades_zoo.envs``: pure ``reset``/``step``, auto-reset)."""
        return envs.make(self.env_id, self.dynamics)

    # -- normalisation state ----------------------------------------------------------------------
    def reset_state(self, index: int = 0) -> NormState:
        """The normalisation statistics at the start of a rollout (a pytree; pass it to ``act``).

        ``running``: the prior (mean 0, var 1, count 1e-4); ``const``: the dataset's statistics
        (frozen: those of seed ``index``); ``none``: an identity that ``act`` ignores.
        """
        stats = self.norm_state
        if self.frozen:
            stats = NormState(*(x[index] for x in stats))
        return NormState(*(jnp.asarray(x, jnp.float32) for x in stats))

    def _stateless(self, what: str):
        name = (self.info.get("dataset") or {}).get("name") or self.env_id
        raise StatefulPolicyError(
            f"{name} normalises observations with running statistics, so {what} needs them: "
            "keep them with `state = trained.reset_state()` then `action, state = trained.act(obs, state)`, "
            "or freeze them once with `trained = trained.freeze()`")

    def normalize(self, obs, state: NormState | None = None):
        """Raw observation(s) -> the dataset's space (flat), with ``state``'s statistics (default:
        the policy's own; a ``running`` policy needs ``state``)."""
        if state is None:
            if self.norm.kind == "running":
                self._stateless("normalize(obs)")
            state = self.reset_state()
        flat = self._flat(obs)
        return self.norm.normalize(flat, state)

    def _flat(self, obs):
        obs = jnp.asarray(obs, jnp.float32)
        lead = obs.shape[: obs.ndim - len(self.spec.obs_shape)]
        return obs.reshape((*lead, self.policy.obs_dim))

    # -- acting -----------------------------------------------------------------------------------
    def act(self, obs, state: NormState | None = None, *, key=None, index: int = 0):
        """Action(s) of seed ``index`` for raw env observation(s): greedy without ``key``, sampled with one.

        Args:
            obs: one observation (``obs_shape``) or a batch (``(n, *obs_shape)``): the batch that
                is stepped together, whole (running statistics merge it at once).
            state: *optional* statistics from ``reset_state`` or the previous ``act``; required
                for ``running`` normalisation.
            key: *optional* a JAX key: sample from the policy (the paper protocols do), else its mode.
            index: which trained seed acts.

        Returns:
            ``action`` without ``state``; ``(action, new_state)`` with it. One action for one
            observation, a batch for a batch. Works under ``jax.jit`` (``index`` static).

        Raises:
            StatefulPolicyError: ``state`` left out on a ``running``-normalised policy.
        """
        if state is None and self.norm.kind == "running":
            self._stateless("act(obs)")
        flat = self._flat(obs)
        single = flat.ndim == 1
        batch = flat[None] if single else flat
        stats = self.reset_state(index) if state is None else state
        stats = self.norm.update(stats, batch)
        x = self.norm.normalize(batch, stats)
        sample = key is not None
        action = self.policy.act(key if sample else jax.random.PRNGKey(0), self.params_of(index), x, sample)
        action = action[0] if single else action
        return action if state is None else (action, stats)

    def to_env_action(self, action):
        """The simulator's own action: continuous ones clipped to [-1, 1] and rescaled to the env's
        range, discrete ones as ``int32`` (what ``trained.env().step`` does itself)."""
        if not get_task(self.task).acts_in_env:
            raise ConfigError(f"{self.env_id} is an image task: its actions are class labels already")
        return envs.to_env_action(self.spec, jnp.asarray(action))

    def freeze(self, *, seed: int = 0, protocol=None) -> "TrainedPolicy":
        """A stateless copy: each seed's running statistics, gathered over its evaluation rollout
        (the dataset's protocol, or ``protocol``; evaluation seed ``seed``), become constants.

        ``act(obs)`` then needs no state; the returns stay close to ``evaluate``'s (the statistics
        no longer adapt), and ``as_numpy``/``save`` keep them. Other kinds are returned as they are.
        """
        if self.norm.kind != "running":
            return self
        proto = self.protocol if protocol is None else get_protocol(protocol, self.spec)
        fn = jax.jit(jax.vmap(make_norm_stats(self.env_id, self.policy, proto, self.norm, self.dynamics),
                              in_axes=(0, 0, None, None)))
        keys = jax.random.split(jax.random.PRNGKey(seed), self.num_seeds)
        stats = fn(keys, self.params, self.norm_state.mean, self.norm_state.var)
        stats = NormState(*(np.asarray(x, np.float32) for x in stats))
        return dataclasses.replace(self, norm=ObsNorm("const", self.norm.eps), norm_state=stats,
                                   frozen={"protocol": proto.name, "seed": int(seed)}, timing={})

    def as_numpy(self, index: int = 0):
        """The greedy policy of seed ``index`` as ``f(obs: np.ndarray) -> np.ndarray`` of env actions
        (``to_env_action`` applied), for use outside JAX. Plain numpy for MLPs, a jitted JAX
        function behind numpy arrays for other architectures.

        Raises:
            StatefulPolicyError: ``running`` normalisation (``freeze()`` it first).
        """
        if self.norm.kind == "running":
            self._stateless("as_numpy()")
        stats = NormState(*(np.asarray(x, np.float64) for x in self.reset_state(index)))
        norm, obs_dim = self.norm, self.policy.obs_dim
        spec = self.spec
        params = jax.tree.map(np.asarray, self.params_of(index))
        net = self.policy.net
        forward = _numpy_mlp(net, params["net"]) if isinstance(net, MLP) else _jax_forward(self.policy, params)

        def policy(obs: np.ndarray) -> np.ndarray:
            x = np.asarray(obs, np.float64)
            x = x.reshape((*x.shape[: x.ndim - len(spec.obs_shape)], obs_dim))
            x = norm.normalize(x, stats)
            out = forward(x)
            if spec.discrete:  # actions, or an image task's class labels
                return np.argmax(out, axis=-1).astype(np.int32)
            a = np.clip(out, -1.0, 1.0)
            return (spec.action_low + (a + 1.0) * 0.5 * (np.asarray(spec.action_high) - spec.action_low)).astype(np.float32)

        return policy

    def save(self, path) -> str:
        """Write this policy to one ``.safetensors`` file (``hades_zoo.policy_file``); returns its sha256."""
        return policy_file.save_policy(self, path)


def _dataset_info(ds: SyntheticDataset) -> dict:
    """Which dataset a policy was trained on: name, revision, where it was read, and the sha256
    of its content (the ``sha256`` its file's metadata holds)."""
    source = ds.source or ""
    head = source.split(" ")[0]
    revision = head.rsplit("@", 1)[1] if "@" in head else None
    return {"name": ds.name, "revision": revision, "source": ds.source, "sha256": fmt.payload_sha256(ds.tensors())}


_NP_ACT = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "gelu": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),  # flax's approximate gelu
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
}


def _numpy_mlp(net: MLP, params: dict):
    layers = [(np.asarray(params["params"][f"Dense_{i}"]["kernel"], np.float64),
               np.asarray(params["params"][f"Dense_{i}"]["bias"], np.float64)) for i in range(len(net.hidden) + 1)]
    act = _NP_ACT[net.activation]

    def forward(x):
        for w, b in layers[:-1]:
            x = act(x @ w + b)
        w, b = layers[-1]
        return x @ w + b

    return forward


def _jax_forward(policy: Policy, params):
    fn = jax.jit(policy.__call__)
    return lambda x: np.asarray(fn(params, jnp.asarray(x, jnp.float32)), np.float64)


def load_policy(path: str | os.PathLike) -> TrainedPolicy:
    """Read a policy file written by ``TrainedPolicy.save`` (sha256 and format verified).

    Example:
        >>> trained = hades_zoo.load_policy("policy.safetensors")
        >>> action = trained.act(obs)   # a running-normalised one: action, state = trained.act(obs, state)

    Raises:
        CorruptDatasetError: truncated, not safetensors, or the sha256 does not match.
        IncompatibleDatasetError: not a policy file (a dataset, say), or metadata and tensors disagree.
    """
    tensors, meta = fmt.read(path)
    if meta.get("kind") != policy_file.KIND:
        raise IncompatibleDatasetError(f"{path}: not a policy file (a dataset? load it with hades_zoo.load, or train "
                                       "one with hades-zoo train ... --out policy.safetensors)")
    fix = "the file is damaged or was not written by hades-zoo; save the policy again"
    checked = schema.validate(schema.PolicyMeta, meta, str(path), fix, label="metadata field")
    p = checked.policy
    try:
        recipe, protocol, norm = Recipe.from_dict(meta["recipe"]), Protocol.from_dict(meta["protocol"]), ObsNorm.from_dict(meta["obs_norm"])
        policy = make_policy(p.arch, tuple(p.obs_shape), p.action_dim, p.discrete)
    except ConfigError as e:
        raise IncompatibleDatasetError(f"{path}: {e}; {fix}") from None
    params = policy_file.unflatten(tensors, "params")
    expected = jax.eval_shape(policy.init, jax.random.PRNGKey(0))
    n = len(p.seeds)
    want = jax.tree.map(lambda s: (n, *s.shape), expected)
    got = jax.tree.map(lambda a: tuple(a.shape), params)
    if jax.tree.structure(want) != jax.tree.structure(got) or want != got:
        raise IncompatibleDatasetError(f"{path}: its parameters do not fit {p.arch} for {p.env_id} with {n} seeds; {fix}")
    stats = None
    if norm.kind != "none":
        if not {"norm/mean", "norm/var", "norm/count"} <= set(tensors):
            raise IncompatibleDatasetError(f"{path}: {norm.kind} normalisation without its norm/mean, norm/var, norm/count; {fix}")
        stats = NormState(tensors["norm/mean"], tensors["norm/var"], tensors["norm/count"])
    info = {"dataset": dict(p.dataset or {}), "versions": dict(meta.get("versions") or {}), "returns": p.returns,
            "source": str(path)}
    return TrainedPolicy(policy, params, None, recipe, p.arch, list(p.seeds), {}, env_id=p.env_id, task=p.task,
                         dynamics=p.dynamics, protocol=protocol, norm=norm, norm_state=stats, frozen=p.frozen, info=info)
