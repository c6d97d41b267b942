"""activation kernels (being written)."""

KERNELS: dict = {}
