"""Plain IEEE arithmetic while verifying: :func:`precision_guard` (no TF32, and on CUDA no cuDNN unless
:data:`CUDNN_DURING_VERIFICATION`), so that the componentwise rounding bounds cover what torch computes.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["precision_guard", "CUDNN_DURING_VERIFICATION"]


#: Whether cuDNN may run convolutions while verifying on CUDA. Off by default: cuDNN may choose
#: Winograd or FFT algorithms, whose rounding errors the componentwise bounds do not cover; the
#: native CUDA convolutions (im2col and GEMM) are covered.
CUDNN_DURING_VERIFICATION = False


@contextlib.contextmanager
def precision_guard(device: torch.device):
    """Verify in plain IEEE arithmetic: on CUDA switch TF32 off (matmul and cuDNN) and, unless
    :data:`CUDNN_DURING_VERIFICATION`, cuDNN itself; restore everything after; yield the flags."""
    flags = {"device": str(device), "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}
    if torch.device(device).type != "cuda":
        flags["mkldnn_matmul_fp32_precision"] = str(getattr(torch.backends.mkldnn.matmul, "fp32_precision", "n/a"))
        yield flags
        return
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.enabled)
    flags.update(tf32_matmul=False, tf32_cudnn=False, tf32_matmul_outside=old[0], tf32_cudnn_outside=old[1],
                 cudnn_convolutions=bool(CUDNN_DURING_VERIFICATION and old[2]))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.enabled = bool(CUDNN_DURING_VERIFICATION and old[2])
    try:
        yield flags
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.enabled = old
