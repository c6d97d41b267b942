"""loss kernels (being written)."""

KERNELS: dict = {}
