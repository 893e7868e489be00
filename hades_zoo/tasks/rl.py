"""The ``rl`` task: a dataset of state-action pairs for an env, scored by the return of a
policy behaviour-cloned on it, rolled out under a protocol (``hades_zoo.rollout``)."""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np

from hades_zoo import progress
from hades_zoo import format as fmt
from hades_zoo.envs.specs import get_spec
from hades_zoo.errors import HadesZooWarning, IncompatibleDatasetError
from hades_zoo.recipe import EvalResult, ObsNorm, Protocol, default_recipe, get_protocol
from hades_zoo.tasks.base import Task, TaskCard

KIND = "rl"

# jax, the envs and the rollout load with ``evaluate``: listing or reading a dataset needs none of them.


@functools.lru_cache(maxsize=64)
def _batched_eval(env_id: str, policy, protocol: Protocol, obs_norm: ObsNorm, dynamics: str = "current",
                  per_seed_stats: bool = False):
    import jax  # jax, the envs and the rollout load with an evaluation, not with `info`

    from hades_zoo.rollout import make_evaluate  # the rollout (jax, the simulator): with an evaluation

    stats_axis = 0 if per_seed_stats else None  # a frozen policy's statistics: one set per seed
    return jax.jit(jax.vmap(make_evaluate(env_id, policy, protocol, obs_norm, dynamics),
                            in_axes=(0, 0, stats_axis, stats_axis)))


_VERSION_WARNED: set = set()


def _warn_versions(trained, spec) -> None:
    from hades_zoo import envs  # the simulators' versions: with an evaluation

    versions = trained.info.get("versions") or {}
    recorded = {k: v for k, v in versions.items() if k in ("brax", "gymnax", "mujoco")}
    if not recorded:
        return
    current = envs.simulator_versions(spec)
    diff = {k: (v, current.get(k)) for k, v in recorded.items() if current.get(k) != v}
    key = (spec.env_id, tuple(sorted(diff.items())))
    if diff and key not in _VERSION_WARNED:
        _VERSION_WARNED.add(key)
        desc = ", ".join(f"{k} {a} (now {b})" for k, (a, b) in diff.items())
        name = (trained.info.get("dataset") or {}).get("name") or "the dataset"
        warnings.warn(f"{name} was made with {desc}; returns may differ", HadesZooWarning, stacklevel=4)


def evaluate(trained, env: str | None = None, *, protocol=None, seed: int = 0, dynamics: str | None = None) -> EvalResult:
    """``hades_zoo.evaluate`` for RL policies: every trained seed rolled out in the env (see there)."""
    import jax  # jax, the envs and the compiler load with an evaluation, not with `info`
    import jax.numpy as jnp

    from hades_zoo import envs  # with an evaluation, as jax above
    from hades_zoo import aot  # with an evaluation, as jax above
    from hades_zoo._runtime import compiled
    from hades_zoo.bc import ours

    name = (trained.info.get("dataset") or {}).get("name") or trained.env_id
    own = trained.spec
    spec = own if env is None else envs.get_spec(env)
    if (spec.obs_shape, spec.action_dim, spec.discrete) != (own.obs_shape, own.action_dim, own.discrete):
        raise IncompatibleDatasetError(
            f"dataset is for {own.env_id} (obs {own.obs_shape}, actions {own.action_dim}) and cannot drive "
            f"{spec.env_id} (obs {spec.obs_shape}, actions {spec.action_dim}); evaluate on {own.env_id}"
        )
    proto = trained.protocol if protocol is None else get_protocol(protocol, spec)
    dyn = envs.check_dynamics(trained.dynamics if dynamics is None else dynamics)
    if dyn == "current":  # "2023" restores the recorded simulator's behaviour: nothing to warn about
        _warn_versions(trained, spec)

    def build():  # the env is built (brax or gymnax imported) only when the program is traced
        return _batched_eval(spec.env_id, trained.policy, proto, trained.norm, dyn, bool(trained.frozen))

    mean, var = jnp.asarray(trained.norm_state.mean), jnp.asarray(trained.norm_state.var)
    args = (jax.random.split(jax.random.PRNGKey(seed), trained.num_seeds), trained.params, mean, var)
    steps = f"{proto.n_steps} steps" if proto.n_steps is not None else "one episode each"
    what = (f"{trained.num_seeds} seed{'s' * (trained.num_seeds > 1)} on {spec.env_id}, {proto.name} "
            f"({proto.n_envs} envs x {steps})")
    if ours(trained.policy):  # our networks: their repr names them fully, so the exported program can be kept
        key = ("eval", spec.env_id, dyn, repr(trained.policy), proto, trained.norm, bool(trained.frozen))
        run = aot.program(build, key, args, f"evaluation rollout, {what}", timing=trained.timing, name="eval")
    else:
        t_env = time.perf_counter()
        fn = build()
        trained.timing["env_s"] = time.perf_counter() - t_env
        run = compiled(fn, f"evaluation rollout, {what}", *args, timing=trained.timing, name="eval")
    t1 = time.perf_counter()
    with progress.phase("evaluating", what):
        scores = np.asarray(jax.block_until_ready(run(*args)), dtype=np.float64)
    trained.timing["eval_s"] = time.perf_counter() - t1
    if not np.all(np.isfinite(scores)):
        raise IncompatibleDatasetError(f"evaluation of {name} produced non-finite returns")
    result = EvalResult(spec.env_id, proto.name, [float(s) for s in scores])
    if spec.env_id == trained.env_id:  # what a saved policy reports as its measured return
        trained.info["returns"] = {"protocol": proto.to_dict(), "dynamics": dyn, "seed": seed, "returns": result.returns,
                                   "mean": result.mean, "std": result.std}
    return result


def _summary(ds, kind: str, own: dict) -> str:
    return (f"{ds.size} synthetic state-action pairs for `{ds.env_id}` ({ds.spec.backend}), made by behaviour distillation "
            f"with {kind} (Lupu et al., ICLR 2024): plain behaviour cloning on these {ds.size} pairs alone trains a "
            f"`{own['arch']}` policy to a return of {own['mean']:.2f} ± {own['std']:.2f} over {len(own['returns'])} seeds "
            f"(`{own['protocol']}` protocol). The file is a `{fmt.FORMAT_VERSION}` safetensors file read by the "
            "`hades-zoo` client, which trains any architecture on it in seconds.")


def _protocol_text(p: Protocol) -> str:
    return f"`{p.name}` ({p.n_envs} envs × " + (f"{p.n_steps} steps)" if p.n_steps else "one full episode)")


TASK = Task(
    kind=KIND, id_key="env_id", get_spec=get_spec, get_protocol=get_protocol, default_recipe=default_recipe,
    evaluate=evaluate, ident=lambda ident: {"env_id": ident}, acts_in_env=True,
    card=TaskCard(item="state", category="reinforcement-learning", tag="behaviour-distillation", digits=1, figure="pairs",
                  summary=_summary, protocol_text=_protocol_text, score="return",
                  baseline="random policy, same protocol and dynamics", scale_protocol=lambda ds, own: own["protocol"],
                  protocol_note="; other protocols (greedy actions, full episodes) give other numbers.",
                  intended_use="The trained policies are simulator agents, not controllers for anything real."),
)
