"""The multi-task network and policy: one set of weights, a view per task.

``MultiTaskConfig`` picks how tasks are told apart and weighed (``VARIANTS`` names
the combinations compared in the README; ``hades_zoo.multitask`` trains them):

  conditioning  ``none`` (plain zero-padding, as the paper), ``onehot`` (task id
                appended to the padded observation) or ``embedding`` (a learned
                per-task vector appended)
  heads         ``shared`` (one output layer, masked to each task's dims) or
                ``per-task`` (the output layer has one block per task)
  balance       ``pair`` (every pair weighs the same), ``task`` (every task's
                mean loss weighs the same, whatever its number of pairs) or ``grad``
                (every task's loss scaled to a unit gradient norm)
  task_norm     ``none`` or ``standardize`` (each task's states z-scored with the
                mean/std of its own pairs, and its env observations likewise)
  inputs        ``padded`` (every task's observation in the same first slots),
                ``disjoint`` (each task's observation in slots of its own; the sources of one
                task share them; an MLP's first layer is then a ``ViewLayer``, one kernel block
                per task, and BC takes each source's rows through its own block only) or ``tokens``
                (a set of (dimension id, value) tokens for a transformer, no padding:
                ``hades_zoo.multitask.tokens``)
  anchors       teacher-labelled states per source (``hades_zoo.multitask.make_anchors``)
  anchor_states ``data`` (drawn around the dataset's own states: no env step), ``env``
                (the states each task's single-task policy visits in its env) or ``auto``
                (per source: ``env`` where data anchors are known to fail, MinAtar frames
                and fixed-init F datasets, and for the other sources of their envs; ``data``
                for envs of flat-observation R datasets only;
                ``hades_zoo.multitask.train.source_anchor_kinds``)
  anchor_batch  how many of each source's anchors one BC step takes: ``0`` every anchor every
                step (full batch), ``n`` a fresh sample of ``n`` per source and step, weighted to
                stand for all of them, or ``auto`` (full batch up to a fixed number of anchor rows,
                per-source samples beyond it, so a step costs the same whatever the number of
                sources: ``hades_zoo.multitask.batches``)
  anchor_pool   ``fixed`` (every source ``anchors`` anchors) or ``auto`` (an env-anchored MinAtar
                source keeps every state of its teachers' rollouts: ``hades_zoo.anchors.frame_pool``)
  steps_factor  BC steps as a multiple of the joint recipe's (the sources' most): 30 sources
                in one network need more steps than one (the default: 2)
  student_rounds  DAgger rounds after BC: each env-anchored source's anchors grow by the states the
                student visits, labelled by its teacher, and BC runs again (``hades_zoo.multitask.dagger``)
  unit          what the task id, heads, log-std and balance are keyed by: ``task``
                (one per env view: sources of one env share a head) or ``source``
                (one per merged dataset, the default: hopper R and F keep their own
                heads, as their teachers act differently on the same states)

Below, "task" in the network means the *unit*: with ``unit="source"`` the network
has one one-hot slot, head and log-std per source.

``MultiTaskPolicy.bc_loss`` is what the client's ``make_bc`` minimises: per pair,
its task's single-task loss on the task's action dims. ``task_policy(t)`` is task
``t``'s view, a plain ``Policy`` over its own observation and action spaces.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo.anchors import ANCHOR_POOLS, ANCHOR_STATES
from hades_zoo.errors import ConfigError
from hades_zoo.multitask.dataset import MultiTaskDataset
from hades_zoo.multitask.tokens import make_token_trunk
from hades_zoo.multitask.views import ViewLayer, disjoint_inputs
from hades_zoo.policies import ACTIVATIONS, ARCH_EXAMPLES, MLP, Policy, parse_arch

CONDITIONINGS = ("none", "onehot", "embedding")
HEADS = ("shared", "per-task")
BALANCES = ("pair", "task", "grad")
TASK_NORMS = ("none", "standardize")
INPUTS = ("padded", "disjoint", "tokens")
UNITS = ("task", "source")
MAX_STUDENT_ROUNDS = 8  # each round costs a rollout per env-anchored source and the recipe's steps again
MAX_STEPS_FACTOR = 16  # steps_factor: BC steps as a multiple of the joint recipe's
STD_FLOOR = 0.1  # task_norm="standardize": smallest std a state dim is divided by


@dataclasses.dataclass(frozen=True)
class MultiTaskConfig:
    conditioning: str = "onehot"
    heads: str = "per-task"
    balance: str = "task"
    task_norm: str = "none"
    inputs: str = "padded"
    anchors: int = 0
    anchor_scale: float = 1.0
    anchor_states: str = "data"
    embed_dim: int = 8
    unit: str = "source"
    anchor_batch: int | str = 0
    anchor_pool: str = "fixed"
    student_rounds: int = 0
    steps_factor: int = 1

    def __post_init__(self):
        for field, value, allowed in (("conditioning", self.conditioning, CONDITIONINGS), ("heads", self.heads, HEADS),
                                      ("balance", self.balance, BALANCES), ("task_norm", self.task_norm, TASK_NORMS),
                                      ("inputs", self.inputs, INPUTS), ("unit", self.unit, UNITS),
                                      ("anchor_states", self.anchor_states, ANCHOR_STATES),
                                      ("anchor_pool", self.anchor_pool, ANCHOR_POOLS)):
            if value not in allowed:
                raise ConfigError(f"unknown multi-task {field} {value!r}; use one of {', '.join(allowed)}")
        if self.anchor_batch != "auto" and not (type(self.anchor_batch) is int and self.anchor_batch >= 0):
            raise ConfigError(f"anchor_batch must be 'auto' or an integer >= 0 (0: every anchor every step), got {self.anchor_batch!r}")
        if type(self.student_rounds) is not int or not 0 <= self.student_rounds <= MAX_STUDENT_ROUNDS:
            raise ConfigError(f"student_rounds must be an integer from 0 to {MAX_STUDENT_ROUNDS}, got {self.student_rounds!r}")
        if self.student_rounds and (not self.anchors or self.anchor_states == "data"):
            raise ConfigError("student_rounds label the student's states with the sources' teachers: they need anchors > 0 "
                              "and anchor_states 'env' or 'auto'")
        if type(self.steps_factor) is not int or not 1 <= self.steps_factor <= MAX_STEPS_FACTOR:
            raise ConfigError(f"steps_factor must be an integer from 1 to {MAX_STEPS_FACTOR}, got {self.steps_factor!r}")
        if self.embed_dim < 1:
            raise ConfigError(f"embed_dim must be >= 1, got {self.embed_dim}")
        if int(self.anchors) < 0 or not self.anchor_scale > 0:
            raise ConfigError(f"anchors must be >= 0 and anchor_scale > 0, got {self.anchors} and {self.anchor_scale}")


VARIANTS = {
    "zero-pad": MultiTaskConfig("none", "shared", "pair"),  # the paper's merge: nothing tells the tasks apart
    "onehot-balanced": MultiTaskConfig("onehot", "shared", "task"),
    "embedding-balanced": MultiTaskConfig("embedding", "shared", "task"),
    "heads-balanced": MultiTaskConfig("onehot", "per-task", "task"),
    "heads-only-balanced": MultiTaskConfig("none", "per-task", "task"),
    "heads-only-grad": MultiTaskConfig("none", "per-task", "grad"),
    "heads-only-standardize": MultiTaskConfig("none", "per-task", "task", "standardize"),
    "disjoint-balanced": MultiTaskConfig("none", "per-task", "task", inputs="disjoint"),
    "anchored-onehot": MultiTaskConfig("onehot", "shared", "task", anchors=512),
    # per source: its own head, log-std and 2048 anchors of its own teacher (hopper R + F, 4 seeds: 0.99 / 1.00;
    # per env with 512 anchors, the default before: 0.85 / 0.83; examples/multitask_ablation.py, README)
    # anchor_states="auto": env anchors only for MinAtar sources (data anchors: Breakout 0.14) and fixed-init F
    # sources (hopper F beside three R files: 0.87, seeds falling) and their envs' other sources (hopper R beside an
    # env-anchored F: 0.90); data anchors (no env step) for envs of flat-observation R sources only;
    # anchor_pool="auto": every rollout state of a MinAtar teacher whose frames rarely repeat (Asterix R alone: 0.51 -> 0.93)
    # inputs="disjoint", steps_factor=2: each env view in input slots of its own and twice the recipe's steps (the whole
    # zoo, 8 seeds: 11 of 28 sources under 0.9 padded at 400 steps, 3 disjoint at 800; README "The whole zoo")
    "anchored": MultiTaskConfig("none", "per-task", "task", anchors=2048, anchor_states="auto", anchor_batch="auto",
                                anchor_pool="auto", inputs="disjoint", steps_factor=2),
    "anchored-padded": MultiTaskConfig("none", "per-task", "task", anchors=2048, anchor_states="auto", anchor_batch="auto",
                                       anchor_pool="auto"),  # the default before: zero-padded inputs, the recipe's steps
    "anchored-data": MultiTaskConfig("none", "per-task", "task", anchors=2048, anchor_batch="auto"),  # no env step for any source
    "anchored-env": MultiTaskConfig("none", "per-task", "task", anchors=2048, anchor_states="env", anchor_batch="auto",
                                    anchor_pool="auto"),
}
DEFAULT_VARIANT = "anchored"


class MultiTaskNet(nn.Module):
    """``trunk`` on the padded observation (plus the task's one-hot or embedding);
    with ``per-task`` heads its output holds one block of ``action_dim`` per task."""

    trunk: nn.Module
    n_tasks: int
    action_dim: int
    conditioning: str
    heads: str
    embed_dim: int = 8
    obs_dims: tuple = ()  # inputs="disjoint": each task's observation gets its own input slots
    inputs: str = "padded"
    views: tuple = ()  # inputs="disjoint": each unit's input view (its task: sources of one env view share slots)
    view_width: int = 0  # inputs="disjoint", MLP trunks: the first hidden layer is a ``ViewLayer`` of this width
    view_act: str = "tanh"

    @nn.compact
    def __call__(self, obs, task, blocks=None):
        x = obs
        if self.inputs == "tokens":  # the token trunk reads the task itself (its tokens' vocabulary)
            out = self.trunk(obs, task)
            if self.heads == "per-task":
                out = jnp.einsum("...ta,...t->...a", out.reshape((*out.shape[:-1], self.n_tasks, self.action_dim)), task)
            return out
        views = self.views or tuple(range(self.n_tasks))
        cond = None
        if self.conditioning == "onehot":
            cond = task
        elif self.conditioning == "embedding":
            table = self.param("task_embedding", nn.initializers.normal(1.0), (self.n_tasks, self.embed_dim))
            cond = task @ table
        if self.inputs == "disjoint" and self.view_width:
            x = ACTIVATIONS[self.view_act](ViewLayer(self.obs_dims, views, self.view_width)(obs, task, cond, blocks))
        else:
            if self.inputs == "disjoint":
                x = disjoint_inputs(obs, task, self.obs_dims, views)
            if cond is not None:
                x = jnp.concatenate([x, cond], axis=-1)
        out = self.trunk(x)
        if self.heads == "per-task":
            out = jnp.einsum("...ta,...t->...a", out.reshape((*out.shape[:-1], self.n_tasks, self.action_dim)), task)
        return out


def _standardize(obs, task, shift, scale):
    if shift is None:
        return obs
    return (obs - task @ jnp.asarray(shift)) / (task @ jnp.asarray(scale))


@dataclasses.dataclass(frozen=True)
class TaskNet:
    """One unit's view of a ``MultiTaskNet``: its flat observations in, its actions out.

    The unit's one-hot rides in the parameters (``{"mt": ..., "task": one-hot}``, gradient
    stopped), not in the view: all units of one env and shape share one view, so their
    rollouts compile once (30 sources of 15 envs: 15 compilations, not 30)."""

    net: MultiTaskNet
    obs_dim: int
    action_dim: int
    obs_max: int
    shift: tuple | None = None
    scale: tuple | None = None

    def _inputs(self, obs, onehot):
        x = jnp.pad(obs, [(0, 0)] * (obs.ndim - 1) + [(0, self.obs_max - self.obs_dim)])
        task = jnp.broadcast_to(jax.lax.stop_gradient(onehot), (*x.shape[:-1], self.net.n_tasks))
        return _standardize(x, task, self.shift, self.scale), task

    def init(self, key, obs):
        onehot = jax.nn.one_hot(0, self.net.n_tasks)
        return {"mt": self.net.init(key, *self._inputs(obs, onehot)), "task": onehot}

    def apply(self, variables, obs):
        return self.net.apply(variables["mt"], *self._inputs(obs, variables["task"]))[..., : self.action_dim]


@dataclasses.dataclass(frozen=True)
class MultiTaskPolicy:
    """The trained object: a ``MultiTaskNet`` plus a learned log-std per (task, action dim).

    ``bc_loss(params, states, targets)`` takes ``states = [padded obs | task one-hot]``.
    """

    net: MultiTaskNet
    obs_dims: tuple[int, ...]
    action_dims: tuple[int, ...]
    task_discrete: tuple[bool, ...]
    balance: str = "task"
    shift: tuple | None = None  # (T, O) per-task standardisation, as nested tuples
    scale: tuple | None = None
    blocks: tuple | None = None  # static row blocks of the batches bc_loss takes (``ViewLayer``); None: any rows

    @property
    def n_tasks(self) -> int:
        return len(self.obs_dims)

    @property
    def obs_max(self) -> int:
        return max(self.obs_dims)

    @property
    def action_max(self) -> int:
        return max(self.action_dims)

    def init(self, key: jax.Array) -> dict:
        net = self.net.init(key, jnp.zeros((self.obs_max,)), jnp.zeros((self.n_tasks,)))
        return {"net": net, "log_std": jnp.zeros((self.n_tasks, self.action_max), jnp.float32)}

    def __call__(self, params, obs, task):
        return self.net.apply(params["net"], _standardize(obs, task, self.shift, self.scale), task, self.blocks)

    def task_losses(self, params, states, targets, weights=None):
        """Each task's own single-task BC loss on its pairs (its action dims only), and
        which tasks have pairs: ``(losses (T,), counts (T,))``. ``weights`` (rows,), *optional*:
        each row's weight in its task's mean (a sampled anchor stands for ``pool / batch`` of its
        source's anchors, ``hades_zoo.multitask.batches``); all 1 when omitted."""
        O, T = self.obs_max, self.n_tasks
        obs, task = states[:, :O], states[:, O : O + T]
        out = self(params, obs, task)
        mask = task @ (jnp.arange(self.action_max)[None, :] < jnp.asarray(self.action_dims)[:, None]).astype(jnp.float32)
        disc = task @ jnp.asarray(self.task_discrete, jnp.float32)
        n_act = task @ jnp.asarray(self.action_dims, jnp.float32)
        logp = jnp.where(mask > 0, jax.nn.log_softmax(jnp.where(mask > 0, out, -1e9), axis=-1), 0.0)
        xent = -jnp.sum(targets * logp, axis=-1) / n_act  # single-task: mean over (pair, action) entries
        log_std = task @ params["log_std"]
        z = (targets - out) * jnp.exp(-log_std)
        nll = -jnp.sum(mask * (-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi)), axis=-1)
        loss = jnp.where(disc > 0, xent, nll)
        valid = jnp.where(disc > 0, (jnp.sum(targets, axis=-1) > 0).astype(jnp.float32), 1.0)  # zero label row: unused
        if weights is not None:
            valid = valid * weights
        counts = valid @ task
        return ((valid * loss) @ task) / jnp.maximum(counts, 1.0), counts

    def bc_loss(self, params, states, targets, weights=None):
        """``pair``: mean over (labelled) pairs; ``task``: mean over tasks of each task's
        loss; ``grad``: the same with each task's loss divided by the norm of its gradient
        (a constant for differentiation), so that every task pulls on the shared weights
        equally hard whatever its loss scale (a Gaussian NLL's gradient grows as the
        learned std shrinks, a cross-entropy's does not)."""
        losses, counts = self.task_losses(params, states, targets, weights)
        if self.balance == "pair":
            return jnp.sum(counts * losses) / jnp.maximum(jnp.sum(counts), 1.0)
        present = (counts > 0).astype(jnp.float32)
        weight = present / jnp.maximum(jnp.sum(present), 1.0)
        if self.balance == "grad":
            jac = jax.jacrev(lambda p: self.task_losses(p, states, targets, weights)[0])(params)
            sq = sum(jnp.sum(leaf.reshape(self.n_tasks, -1) ** 2, axis=1) for leaf in jax.tree.leaves(jac))
            weight = weight / jax.lax.stop_gradient(jnp.sqrt(sq) + 1e-8)
        return jnp.sum(weight * losses)

    def task_policy(self, t: int) -> Policy:
        """Task ``t``'s single-task view: a plain ``Policy`` over its own observation/action space."""
        shift = scale = None
        if self.shift is not None:
            shift, scale = self.shift, self.scale
        net = TaskNet(self.net, self.obs_dims[t], self.action_dims[t], self.obs_max, shift, scale)
        return Policy(net, self.obs_dims[t], self.action_dims[t], self.task_discrete[t])

    def task_params(self, params, t: int) -> dict:
        """Parameters of the view (works on seed-stacked parameters too): the network's and
        the unit's one-hot, one per seed."""
        lead = params["log_std"].shape[:-2]
        onehot = jnp.broadcast_to(jax.nn.one_hot(t, self.n_tasks), (*lead, self.n_tasks))
        out = {"net": {"mt": params["net"], "task": onehot}}
        if not self.task_discrete[t]:
            out["log_std"] = params["log_std"][..., t, : self.action_dims[t]]
        return out


def unit_ids(merged: MultiTaskDataset, unit: str = "source") -> np.ndarray:
    """(N,) the unit (task or source) of every pair."""
    return merged.task_ids if unit == "task" else merged.source_ids


def unit_tasks(merged: MultiTaskDataset, unit: str = "source") -> list[int]:
    """The task of every unit."""
    return list(range(merged.n_tasks)) if unit == "task" else [int(s["task"]) for s in merged.sources]


def packed_states(merged: MultiTaskDataset, unit: str = "source") -> np.ndarray:
    """``[padded states | unit one-hot]``: what ``MultiTaskPolicy.bc_loss`` reads."""
    n = len(unit_tasks(merged, unit))
    return np.concatenate([merged.states, np.eye(n, dtype=np.float32)[unit_ids(merged, unit)]], axis=1)


def _task_stats(merged: MultiTaskDataset, unit: str):
    ids, tasks = unit_ids(merged, unit), unit_tasks(merged, unit)
    shift = np.zeros((len(tasks), merged.obs_dim), np.float32)
    scale = np.ones_like(shift)
    for t, task in enumerate(tasks):
        rows, n = merged.states[ids == t], merged.task_spec(task).obs_dim
        shift[t, :n] = rows[:, :n].mean(0)
        scale[t, :n] = np.maximum(rows[:, :n].std(0), STD_FLOOR)
    as_tuple = lambda a: tuple(tuple(float(v) for v in row) for row in a)
    return as_tuple(shift), as_tuple(scale)


def make_multitask_policy(merged: MultiTaskDataset, model, config: MultiTaskConfig) -> MultiTaskPolicy:
    tasks = unit_tasks(merged, config.unit)
    T, A = len(tasks), merged.action_dim
    out_dim = T * A if config.heads == "per-task" else A
    specs = [merged.task_spec(t) for t in tasks]
    view_width, view_act = 0, "tanh"
    if config.inputs == "tokens":
        envs = list(dict.fromkeys(s.env_id for s in specs))
        trunk = make_token_trunk(model if isinstance(model, str) else None, out_dim, specs, [envs.index(s.env_id) for s in specs])
    elif isinstance(model, str):
        trunk = parse_arch(model, out_dim)
        if config.inputs == "disjoint" and isinstance(trunk, MLP):  # its first layer becomes the ViewLayer
            view_width, view_act = trunk.hidden[0], trunk.activation
            trunk = MLP(tuple(trunk.hidden[1:]), out_dim, trunk.activation)
    elif isinstance(model, nn.Module):
        trunk = model
    else:
        raise ConfigError(f"model must be an architecture string (e.g. {ARCH_EXAMPLES[0]!r}) or a flax.linen.Module "
                          f"mapping inputs to {out_dim} outputs, got {type(model).__name__}")
    shift = scale = None
    if config.task_norm == "standardize":
        shift, scale = _task_stats(merged, config.unit)
    net = MultiTaskNet(trunk, T, A, config.conditioning, config.heads, config.embed_dim,
                       tuple(s.obs_dim for s in specs), config.inputs, tuple(int(t) for t in tasks), view_width, view_act)
    return MultiTaskPolicy(net, tuple(s.obs_dim for s in specs), tuple(s.action_dim for s in specs),
                           tuple(s.discrete for s in specs), config.balance, shift, scale)
