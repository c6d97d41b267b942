"""tinytorch.nn.init (being written)."""
