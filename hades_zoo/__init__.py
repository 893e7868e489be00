"""hades-zoo: behaviour-distillation datasets that train an RL agent in seconds.

>>> import hades_zoo
>>> ds = hades_zoo.load("cartpole-hades-r-4")
>>> print(hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=4)))
"""

from hades_zoo._version import __version__
from hades_zoo.agent import TrainedPolicy, load_policy
from hades_zoo.api import evaluate, train
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import HadesZooError
from hades_zoo.grid import generalize
from hades_zoo.multitask import MultiTaskDataset, evaluate_multitask, load_merged, merge, train_multitask

from hades_zoo.recipe import EvalResult
from hades_zoo.sources import list_datasets, load

# The functions above are named after what they do; no module of the package has their names
# (BC is ``hades_zoo.bc``, rollouts ``hades_zoo.rollout``, the architecture grid ``hades_zoo.grid``),
# so ``import hades_zoo.<module>`` always gives a module.
__all__ = ["__version__", "load", "list_datasets", "train", "evaluate", "SyntheticDataset", "TrainedPolicy", "load_policy",
           "EvalResult", "HadesZooError", "merge", "load_merged", "MultiTaskDataset", "train_multitask", "evaluate_multitask",
           "generalize"]
