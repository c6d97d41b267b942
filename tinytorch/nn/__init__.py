"""Neural-network building blocks (module 02): ``Module``, layers, losses, ``functional``,
``init`` and ``utils``."""

from tinytorch.nn import functional, init, utils
