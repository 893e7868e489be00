"""Resource bounds: the largest sizes hades-zoo accepts, checked before anything reaches XLA.

Why: a size that XLA cannot represent (``mlp-2x2147483647-tanh``) aborts the process
from C++ (no Python exception to catch), and one that it can represent but the host
cannot hold (a 2^31-step BC run) hangs or swaps. Every value that comes from outside
(a CLI flag, an API argument, a dataset's metadata, an authors' pickle, a config file)
is checked against these once, where it enters, and refused with a ``ConfigError``
that names the bound. Each bound admits what real runs use, with room to spare:
population 4096, humanoid at D = 256, 2 x 1024 networks, the paper's 2000-5000
generations, MNIST at 100 images per class. The restricted unpickler's own budgets
live beside it (``legacy_pickle.MAX_*``).
"""

from __future__ import annotations

import numbers

from hades_zoo.errors import ConfigError

# Networks (architecture strings, hades_zoo.policies.parse_arch).
MAX_WIDTH = 16_384  # units of a hidden layer, or channels of a conv layer (paper: 64-512)
MAX_DEPTH = 64  # hidden layers or residual/attention blocks (paper: 2)
MAX_PARAMS = 1 << 27  # parameters of one network: 134 M, 512 MiB of float32 (humanoid 2x1024: 1.3 M)
# Behaviour cloning and evaluation.
MAX_BC_STEPS = 100_000  # full-batch gradient steps of one BC run (paper: 64-1000)
MAX_NUM_SEEDS = 4096  # policies trained at once (vmapped; the CLI's --seeds)
MAX_SEED = 2**32 - 1  # jax.random.PRNGKey keeps 32 bits: larger seeds would collide with small ones
MAX_EVAL_ENVS = 4096  # parallel envs of an evaluation protocol (paper: 4-16)
MAX_EVAL_STEPS = 100_000  # env steps of an evaluation protocol (paper: 1024)
MAX_ANCHOR_POOL = 65_536  # env anchors one source keeps (anchor_pool='auto': a MinAtar teacher's 8 seeds x 8 envs x 1024 steps)
MAX_BC_TEMP_BYTES = 4 << 30  # working memory of one vmapped BC over fixed anchors; above it, seeds train in chunks
# Datasets and distillation.
MAX_DATASET_PAIRS = 65_536  # state-action pairs (or images) in one dataset (paper: 4-1024)
MAX_DATASET_BYTES = 1 << 30  # a dataset file (65,536 MinAtar pairs: 0.2 GB)
MAX_CARD_BYTES = 1 << 20  # a hub card (README.md) read or written (ours: ~10 KB, with a 5000-generation config)
MAX_POPULATION = 65_536  # ES population (paper: 2048)
MAX_GENERATIONS = 1_000_000  # ES generations of one run (paper: 2000-5000)
MAX_ES_NUMBERS = 1 << 30  # population x numbers per candidate dataset: 4 GiB of float32
#                           (humanoid, D = 256, population 4096: 0.27 G)


def check_int(what: str, value, lo: int, hi: int, bound: str = "") -> int:
    """``value`` as an int in ``[lo, hi]``, or a ``ConfigError`` naming ``what`` and the bound.

    Refuses bools and non-integral numbers (``epochs=1.5``) instead of truncating them.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{what} must be a whole number, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        limit = f" ({bound})" if bound else ""
        raise ConfigError(f"{what} must be between {lo} and {hi}{limit}, got {value}")
    return value


def check_positive(what: str, value) -> float:
    """``value`` as a finite float > 0 (a learning rate), or a ``ConfigError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < float(value) < float("inf")):
        raise ConfigError(f"{what} must be a finite number > 0, got {value!r}")
    return float(value)


def check_seed(what: str, value) -> int:
    return check_int(what, value, 0, MAX_SEED, "bounds.MAX_SEED: jax keys hold 32 bits")


def check_network(spec: str, depth: int, width: int, n_params: int) -> None:
    """An architecture within ``MAX_DEPTH``, ``MAX_WIDTH`` and ``MAX_PARAMS``."""
    spec = spec if len(spec) <= 60 else spec[:57] + "..."
    if depth > MAX_DEPTH or width > MAX_WIDTH:
        raise ConfigError(f"architecture {spec!r} is over the bounds "
                          f"(depth <= {MAX_DEPTH}, width <= {MAX_WIDTH}, hades_zoo.bounds); use a smaller network")
    if n_params > MAX_PARAMS:
        raise ConfigError(f"architecture {spec!r} has {n_params:,} parameters, over the bound of {MAX_PARAMS:,} "
                          "(hades_zoo.bounds.MAX_PARAMS); use a smaller network")


def check_es_size(popsize: int, numbers_per_candidate: int) -> None:
    """The ES population array (population x dataset numbers) within ``MAX_ES_NUMBERS``."""
    total = popsize * numbers_per_candidate
    if total > MAX_ES_NUMBERS:
        raise ConfigError(f"config: popsize {popsize} x {numbers_per_candidate} numbers per dataset = {total:,} "
                          f"is over the bound of {MAX_ES_NUMBERS:,} (hades_zoo.bounds.MAX_ES_NUMBERS); "
                          "use a smaller population or dataset")
