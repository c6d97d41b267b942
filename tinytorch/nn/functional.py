"""tinytorch.nn.functional (being written)."""
