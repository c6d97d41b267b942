"""Optimisers whose update loops are kernels (module 06)."""
