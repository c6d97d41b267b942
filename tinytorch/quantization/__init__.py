"""int8 quantisation (module 09): quantised tensors, calibration observers, int8 layers
that run on integer kernels, post-training quantisation, and a compact file format.

- ``functional``: ``QTensor``, ``quantize_per_tensor``, ``quantize_per_channel``,
  ``dequantize``, ``choose_qparams`` (PyTorch's names), ``requantize`` (float or
  fixed-point multiplier, ``quantize_multiplier``);
- ``observers``: ``MinMaxObserver``, ``PerChannelMinMaxObserver``, ``PercentileObserver``;
- ``modules``: ``QuantLinear``, ``QuantConv2d`` (int8 x int8 -> int32 GEMM, bias in int32);
- ``ptq``: ``prepare`` -> ``calibrate`` -> ``convert``, or ``quantize_model(model, loader)``;
- ``serialize``: ``save_quantized``, ``load_quantized``, ``model_file_bytes``;
- behind them: ``qparams`` (scales, zero points, fixed-point multipliers, accumulator
  bounds), ``_checks`` (argument checks), ``_layer`` (what both int8 layers share) and
  ``_schema`` (the file checks run before anything is built).

The kernels are ``kernels/quant.py`` and ``kernels/qgemm.py``; ``docs/quantization.md``
has the measured speed, accuracy and size.

>>> import tinytorch as tt
>>> from tinytorch import quantization as tq
>>> q = tq.quantize_per_tensor(tt.tensor([0.1, -0.2]), scale=0.1, zero_point=0)
>>> q.int_repr().tolist()
[1, -2]
"""

from tinytorch.quantization.functional import (
    QSCHEMES,
    QTensor,
    QuantizationError,
    check_accumulator,
    choose_qparams,
    dequantize,
    quantize_multiplier,
    quantize_per_channel,
    quantize_per_tensor,
    requantize,
)
from tinytorch.quantization.modules import QuantConv2d, QuantLinear
from tinytorch.quantization.observers import (
    MinMaxObserver,
    ObserverBase,
    PercentileObserver,
    PerChannelMinMaxObserver,
)
from tinytorch.quantization.ptq import (
    SCHEMES,
    ObservedConv2d,
    ObservedLinear,
    QConfig,
    calibrate,
    convert,
    get_qconfig,
    prepare,
    quantize_model,
    quantize_ptq,
)
from tinytorch.quantization.serialize import load_quantized, model_file_bytes, save_quantized

__all__ = [
    "QSCHEMES", "QTensor", "QuantizationError", "check_accumulator", "choose_qparams",
    "dequantize", "quantize_per_channel", "quantize_per_tensor", "requantize",
    "quantize_multiplier",
    "QuantConv2d", "QuantLinear",
    "ObserverBase", "MinMaxObserver", "PerChannelMinMaxObserver", "PercentileObserver",
    "SCHEMES", "QConfig", "ObservedLinear", "ObservedConv2d", "get_qconfig", "prepare",
    "calibrate", "convert", "quantize_ptq", "quantize_model",
    "save_quantized", "load_quantized", "model_file_bytes",
]
