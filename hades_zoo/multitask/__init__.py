"""Multi-task: several single-task datasets merged into one file, and one policy for all their envs.

- ``dataset``: ``MultiTaskDataset`` (the merged file format); ``merging``: ``merge``, ``load_merged``;
- ``policy``: ``MultiTaskConfig``, the ``VARIANTS`` and the network (``make_multitask_policy``);
- ``batches``: per-source anchor batches, so that a BC step's cost does not grow with the number of sources;
- ``train``: ``train_multitask``, ``finetune``, ``make_anchors`` (through ``hades_zoo.anchors``);
- ``scoring``: ``evaluate_multitask``, every source against its own recipe (``TaskScore``);
- ``cli``: ``hades-zoo merge`` and ``train-multitask``.

>>> merged = hades_zoo.merge(["cartpole-hades-r-4", "mountaincar-continuous-hades-r-4"])  # doctest: +SKIP
>>> trained = hades_zoo.train_multitask(merged, "mlp-2x64-tanh", num_seeds=2)            # doctest: +SKIP
"""

from hades_zoo import _lazy

# Each name loads its module on first use (hades_zoo._lazy): the CLI registers `merge` and
# `train-multitask` without importing jax.
__getattr__, __dir__ = _lazy.exports(__name__, {
    "MultiTaskDataset": "hades_zoo.multitask.dataset",
    "load_merged": "hades_zoo.multitask.merging", "merge": "hades_zoo.multitask.merging",
    **dict.fromkeys(["DEFAULT_VARIANT", "VARIANTS", "MultiTaskConfig", "MultiTaskPolicy", "make_multitask_policy",
                     "packed_states"], "hades_zoo.multitask.policy"),
    "visited_states": "hades_zoo.anchors",
    **dict.fromkeys(["MultiTaskTrained", "finetune", "make_anchors", "train_multitask"], "hades_zoo.multitask.train"),
    **dict.fromkeys(["TaskScore", "evaluate_multitask"], "hades_zoo.multitask.scoring"),
})

__all__ = ["MultiTaskDataset", "load_merged", "merge", "DEFAULT_VARIANT", "VARIANTS", "MultiTaskConfig", "MultiTaskPolicy",
           "make_multitask_policy", "packed_states", "MultiTaskTrained", "TaskScore", "evaluate_multitask", "finetune",
           "make_anchors", "train_multitask", "visited_states"]
