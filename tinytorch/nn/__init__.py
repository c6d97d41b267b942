"""Neural-network building blocks (module 02): ``Module``, layers, losses, ``functional``,
``init`` and ``utils``.

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
>>> model(tt.randn(32, 64)).shape
(32, 10)
"""

from tinytorch.nn import functional, init, utils
from tinytorch.nn.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.nn.container import ModuleList, Sequential
from tinytorch.nn.conv import Conv2d
from tinytorch.nn.layers import Dropout, Flatten, Identity
from tinytorch.nn.linear import Linear
from tinytorch.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from tinytorch.nn.module import LoadStateDictError, Module
from tinytorch.nn.norm import BatchNorm2d
from tinytorch.nn.parameter import Parameter
from tinytorch.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "functional", "init", "utils",
    "Module", "Parameter", "LoadStateDictError",
    "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax",
    "Dropout", "Flatten", "Identity", "Sequential", "ModuleList",
    "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss",
]
__all__ += ["Conv2d"]
__all__ += ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d"]

from tinytorch.nn.fused import LinearGELU, LinearReLU  # noqa: E402 (module 10: fusion)

__all__ += ["LinearReLU", "LinearGELU"]
