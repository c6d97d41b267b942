"""The global random generator behind ``tt.rand``, ``tt.randn`` and later dropout and
shuffling. One ``numpy.random.Generator`` (PCG64), reseeded by ``tt.manual_seed``.

>>> import tinytorch as tt
>>> _ = tt.manual_seed(0); a = tt.rand(3)
>>> _ = tt.manual_seed(0); b = tt.rand(3)
>>> a.tolist() == b.tolist()
True
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator, as ``torch.manual_seed``; returns it."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed() takes an int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"manual_seed() takes a non-negative seed, got {seed}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """The global generator (for code that draws its own numbers, e.g. a data loader)."""
    return _generator
