"""hades-zoo: behaviour-distillation datasets that train an RL agent in seconds.

>>> import hades_zoo
>>> ds = hades_zoo.load("cartpole-hades-r-4")
>>> print(hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=4)))
"""

from hades_zoo import _lazy
from hades_zoo._version import __version__
from hades_zoo.errors import HadesZooError

# Each name loads its module on first use (hades_zoo._lazy): `import hades_zoo` imports no jax.
__getattr__, __dir__ = _lazy.exports(__name__, {
    "TrainedPolicy": "hades_zoo.agent", "load_policy": "hades_zoo.agent",
    "evaluate": "hades_zoo.api", "train": "hades_zoo.api",
    "SyntheticDataset": "hades_zoo.dataset",
    "generalize": "hades_zoo.grid",
    **dict.fromkeys(["MultiTaskDataset", "evaluate_multitask", "load_merged", "merge", "train_multitask"], "hades_zoo.multitask"),
    "EvalResult": "hades_zoo.recipe",
    "list_datasets": "hades_zoo.sources", "load": "hades_zoo.sources",
})

# The functions above are named after what they do; no module of the package has their names
# (BC is ``hades_zoo.bc``, rollouts ``hades_zoo.rollout``, the architecture grid ``hades_zoo.grid``),
# so ``import hades_zoo.<module>`` always gives a module.
__all__ = ["__version__", "load", "list_datasets", "train", "evaluate", "SyntheticDataset", "TrainedPolicy", "load_policy",
           "EvalResult", "HadesZooError", "merge", "load_merged", "MultiTaskDataset", "train_multitask", "evaluate_multitask",
           "generalize"]
