"""The HaDES distillation engine (ES outer loop, behaviour-cloning inner loop)."""

__version__ = "0.1.0"
