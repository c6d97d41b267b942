#!/usr/bin/env bash
# gpu_check.sh: run the cuda kernel checks on a real NVIDIA GPU, then time matmul.
#
# When: after changing anything under kernels/cuda/, and before trusting a speed-up claim.
# CI cannot do this part: it has no GPU and runs tests/test_kernel_cuda.py under numba's
# CUDA simulator, which executes each GPU thread as Python. The simulator checks the
# indexing logic; only a real GPU checks the compiled kernels and their speed.
#
# How: on a machine with an NVIDIA GPU, its driver, and `pip install -e ".[dev]"` done,
#
#     scripts/gpu_check.sh            # from the repository root or anywhere
#     PYTHON=/path/to/python scripts/gpu_check.sh
#     GPU_CHECK_N=2048 scripts/gpu_check.sh   # a larger matmul for the timing table
#
# Steps, each of which must pass:
#   1. switch the simulator off and check that numba sees a GPU;
#   2. pytest tests/test_kernel_cuda.py with TINYTORCH_CUDA_BIG=1 (adds a 256^3 matmul,
#      1000x1000 sums and elementwise ops) and TINYTORCH_REAL_GPU=1 (an error, not a skip,
#      if the kernels would not run on the GPU);
#   3. scripts/gpu_check.py bench: naive vs tiled matmul at n=1024 float32 against numpy
#      on the CPU, each result validated first; prints first-call (compile) time, median
#      kernel time from CUDA events, GFLOP/s, transfer times, and one end-to-end call.
#
# Without a GPU, `python scripts/gpu_check.py ptx` still compiles every kernel to PTX
# (needs the CUDA toolkit only); tests/test_kernel_cuda.py runs it too.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${PYTHON:-}" ]]; then
    py="$PYTHON"
elif [[ -x .venv/bin/python ]]; then
    py=.venv/bin/python
else
    py=python3
fi

# The simulator must be off before numba.cuda is first imported. TINYTORCH_REAL_GPU=1 also
# stops tests/conftest.py from switching it back on (it defaults NUMBA_ENABLE_CUDASIM=1).
unset NUMBA_ENABLE_CUDASIM
export TINYTORCH_REAL_GPU=1

echo "== 1/3 device"
if ! "$py" - <<'EOF'
import sys

from tinytorch.kernels.cuda import cuda_status

kind, detail = cuda_status()
print(f"cuda kernels run on: {kind} ({detail})")
sys.exit(0 if kind == "gpu" else 1)
EOF
then
    echo "gpu_check.sh: no usable CUDA GPU (see above); nothing checked." >&2
    exit 1
fi

echo "== 2/3 kernel tests on the GPU, with the large shapes"
TINYTORCH_CUDA_BIG=1 "$py" -m pytest tests/test_kernel_cuda.py -m cuda -p no:cacheprovider -q

echo "== 3/3 matmul timing"
"$py" scripts/gpu_check.py bench --n "${GPU_CHECK_N:-1024}" --repeats "${GPU_CHECK_REPEATS:-10}"
