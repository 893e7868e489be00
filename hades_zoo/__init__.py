"""hades-zoo: behaviour-distillation datasets that train an RL agent in seconds.

>>> import hades_zoo
>>> ds = hades_zoo.load("cartpole-hades-r-4")
>>> print(hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=4)))
"""

from hades_zoo.api import TrainedPolicy, evaluate, train
from hades_zoo.policy_file import load_policy
from hades_zoo.recipe import EvalResult
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import HadesZooError
from hades_zoo.sources import list_datasets, load
from hades_zoo.merge import MultiTaskDataset, load_merged, merge  # noqa: E402 - after load: merge resolves names
from hades_zoo.multitask import evaluate_multitask, train_multitask  # noqa: E402
from hades_zoo.generalize import generalize  # noqa: E402

__version__ = "0.1.0"
__all__ = ["load", "list_datasets", "train", "evaluate", "SyntheticDataset", "TrainedPolicy", "load_policy", "EvalResult", "HadesZooError",
           "merge", "load_merged", "MultiTaskDataset", "train_multitask", "evaluate_multitask", "generalize"]
