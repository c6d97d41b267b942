"""optim kernels (being written)."""

KERNELS: dict = {}
