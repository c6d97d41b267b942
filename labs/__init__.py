"""The labs, one per module, shipped as ``tinytorch.labs`` so ``tinytorch lab start`` can copy
them into a student's workspace. Each is a percent-format script: run it with Python, or
open it as a notebook (jupytext)."""
