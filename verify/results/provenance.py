"""What a results line records about the run that made it: versions, device, CPU kernels, precision flags.

>>> facts = run_facts("float64", "cpu", 0)
>>> facts["dtype"], facts["device"], facts["seed"]
('float64', 'cpu', 0)
"""

from __future__ import annotations

import platform
import time

import torch

__all__ = ["run_facts", "precision_flags", "cpu_name"]


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_facts(dtype: str, device: str, seed: int, flags: dict | None = None) -> dict:
    """What a results line records about the run: versions, the device by name, the CPU kernels torch
    uses (``cpu_capability``: rounding, and so kink and crossing counts, can differ between them), the
    dtype, seed, flags, the host that ran it, torch's intra-op thread count and the time."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name()
    return {"torch": torch.__version__, "python": platform.python_version(), "device": dev.type,
            "device_name": name, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "dtype": dtype,
            "seed": seed, "flags": flags or {}, "host": platform.node(), "threads": torch.get_num_threads(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def precision_flags(device: str) -> dict:
    """The precision flags the checks run under, as :func:`verify.numerics.precision.precision_guard` reports them
    (it is entered here as the checks enter it; it sets them and restores them after): whether
    deterministic algorithms are on, and on CUDA the TF32 and cuDNN states during the checks (read back
    from torch inside the guard) and outside them; on CPU the oneDNN fp32 matmul precision."""
    from verify.numerics.precision import precision_guard

    dev = torch.device(device)
    with precision_guard(dev) as guard:
        flags = {"deterministic": torch.are_deterministic_algorithms_enabled(),
                 **{k: v for k, v in guard.items() if k != "device"}}        # the device is in the run facts
        if dev.type == "cuda":
            flags.update(tf32_matmul_during_checks=bool(torch.backends.cuda.matmul.allow_tf32),
                         tf32_cudnn_during_checks=bool(torch.backends.cudnn.allow_tf32),
                         cudnn_during_checks=bool(torch.backends.cudnn.enabled))
    return {k: v if isinstance(v, (bool, int, float, type(None))) else str(v) for k, v in flags.items()}
