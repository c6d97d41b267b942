"""tinytorch.nn.utils (being written)."""
