"""The model zoo of the training configs: an MLP, a small CNN and a LeNet-style CNN.

All three are ``nn.Sequential`` stacks of tinytorch layers (no model-specific code in the
loop), initialised from the current ``tt.manual_seed`` state, for images ``(N, C, H, W)``:

- ``mlp``: ``Flatten -> [Linear -> ReLU] * len(hidden) -> Linear``. The digits MLP is
  ``mlp((1, 8, 8), hidden=[128])``, the model of ``tinytorch mlp``.
- ``cnn``: ``[Conv2d(k, padding k//2) -> ReLU -> MaxPool2d(2)] * len(channels) -> Flatten
  -> [Linear -> ReLU] * len(hidden) -> Linear``: each block keeps the size through the
  convolution and halves it in the pool (digits: 8x8 -> 4x4 -> 2x2).
- ``lenet``: LeCun et al.'s layout: unpadded ``k x k`` convolutions, each followed by ReLU
  and a 2x2 max pool, then two hidden linear layers (MNIST: 28 -> 24 -> 12 -> 8 -> 4,
  ``16*4*4 -> 120 -> 84 -> 10``; CIFAR-10: 32 -> 28 -> 14 -> 10 -> 5).

``build_model(config.model, input_shape, num_classes)`` picks one from a config.

>>> import tinytorch as tt
>>> model = mlp((1, 8, 8), hidden=[32])
>>> model(tt.zeros(4, 1, 8, 8)).shape
(4, 10)
>>> count_parameters(model)
2410
"""

from __future__ import annotations

from tinytorch import nn

__all__ = ["mlp", "cnn", "lenet", "digits_mlp", "digits_cnn", "build_model",
           "count_parameters", "MODELS"]


def _classifier(features: int, hidden, num_classes: int, dropout: float) -> list:
    layers = []
    for width in hidden:
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(features, num_classes))
    return layers


def _check_shape(input_shape) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"input_shape must be (channels, height, width) of positive ints, "
                         f"got {input_shape!r}")
    return shape


def mlp(input_shape=(1, 8, 8), hidden=(128,), num_classes: int = 10,
        dropout: float = 0.0) -> nn.Sequential:
    """``Flatten -> [Linear -> ReLU] * len(hidden) -> Linear``.

    >>> mlp((1, 8, 8), hidden=[16, 16])  # doctest: +ELLIPSIS
    Sequential(
      (0): Flatten(...)
      (1): Linear(in_features=64, out_features=16, bias=True)
    ...
    """
    c, h, w = _check_shape(input_shape)
    return nn.Sequential(nn.Flatten(), *_classifier(c * h * w, hidden, num_classes, dropout))


def _conv_stack(input_shape, channels, kernel_size: int, padding: int, name: str):
    """``[Conv2d -> ReLU -> MaxPool2d(2)]`` per width; the layers and the output shape."""
    c, h, w = _check_shape(input_shape)
    layers = []
    for i, width in enumerate(channels):
        out_h, out_w = (h + 2 * padding - kernel_size + 1) // 2, \
            (w + 2 * padding - kernel_size + 1) // 2
        if out_h < 1 or out_w < 1:
            raise ValueError(f"{name}: convolution block {i + 1} of {len(channels)} gets a "
                             f"{h}x{w} input and would leave nothing after a {kernel_size}x"
                             f"{kernel_size} convolution and a 2x2 pool\nhint: use fewer "
                             f"channels entries (model.channels) or a smaller kernel_size")
        layers += [nn.Conv2d(c, width, kernel_size, padding=padding), nn.ReLU(),
                   nn.MaxPool2d(2)]
        c, h, w = width, out_h, out_w
    return layers, (c, h, w)


def cnn(input_shape=(1, 8, 8), channels=(16, 32), hidden=(), num_classes: int = 10,
        kernel_size: int = 3, dropout: float = 0.0) -> nn.Sequential:
    """Size-keeping convolutions, each with ReLU and a 2x2 max pool, then linear layers.

    >>> import tinytorch as tt
    >>> cnn((1, 8, 8), channels=[4, 8])(tt.zeros(2, 1, 8, 8)).shape
    (2, 10)
    """
    layers, (c, h, w) = _conv_stack(input_shape, channels, kernel_size, kernel_size // 2,
                                    "cnn")
    return nn.Sequential(*layers, nn.Flatten(),
                         *_classifier(c * h * w, hidden, num_classes, dropout))


def lenet(input_shape=(1, 28, 28), channels=(6, 16), hidden=(120, 84),
          num_classes: int = 10, kernel_size: int = 5, dropout: float = 0.0) -> nn.Sequential:
    """LeNet-style: unpadded convolutions, ReLU, 2x2 max pools, then two hidden layers.

    >>> import tinytorch as tt
    >>> lenet((3, 32, 32))(tt.zeros(1, 3, 32, 32)).shape
    (1, 10)
    """
    layers, (c, h, w) = _conv_stack(input_shape, channels, kernel_size, 0, "lenet")
    return nn.Sequential(*layers, nn.Flatten(),
                         *_classifier(c * h * w, hidden, num_classes, dropout))


def digits_mlp(hidden: int = 128) -> nn.Sequential:
    """The MLP of ``tinytorch mlp`` for the 8x8 digits: 64 -> ``hidden`` -> 10.

    >>> count_parameters(digits_mlp())
    9610
    """
    return mlp((1, 8, 8), hidden=[hidden])


def digits_cnn(channels=(16, 32)) -> nn.Sequential:
    """The default model of ``tinytorch train``: two conv-relu-pool blocks, then linear.

    >>> import tinytorch as tt
    >>> digits_cnn()(tt.zeros(1, 1, 8, 8)).shape
    (1, 10)
    """
    return cnn((1, 8, 8), channels=channels)


MODELS = {"mlp": mlp, "cnn": cnn, "lenet": lenet}


def build_model(model_config, input_shape, num_classes: int) -> nn.Sequential:
    """The model a ``[model]`` config table describes, for inputs of ``input_shape``
    ``(C, H, W)``.

    >>> from tinytorch.config import ModelConfig
    >>> count_parameters(build_model(ModelConfig(name="mlp", hidden=[128]), (1, 8, 8), 10))
    9610
    """
    name = model_config.name
    if name not in MODELS:
        raise ValueError(f"model.name: unknown model {name!r}; the zoo has "
                         f"{', '.join(MODELS)}")
    kwargs = {"hidden": list(model_config.hidden), "num_classes": num_classes,
              "dropout": model_config.dropout}
    if name != "mlp":
        kwargs.update(channels=list(model_config.channels),
                      kernel_size=model_config.kernel_size)
    return MODELS[name](input_shape, **kwargs)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable scalars.

    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
