"""The experiment configs that ship with tinytorch (TOML, read by ``tinytorch.config``).

``digits_mlp`` and ``digits_cnn`` train on the embedded digits (no download);
``mnist_lenet`` and ``cifar10_lenet`` need their data sets (``tinytorch train`` says how to
get them). ``tinytorch train NAME`` runs one; copy a file to change more than a few keys.

>>> from tinytorch.config import shipped_configs
>>> shipped_configs()
['cifar10_lenet', 'digits_cnn', 'digits_mlp', 'mnist_lenet']
"""
