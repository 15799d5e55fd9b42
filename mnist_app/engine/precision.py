"""Numeric precision: float32, or mixed bfloat16 (bf16 maths, float32 weights and softmax).

Measured on this project's 2-core AVX-512 machine (native bf16): a small CNN trained 1.85× faster
in mixed bfloat16 at equal accuracy, while the 512-unit MLP was slower (0.8×). So `auto` picks
bfloat16 only for networks with convolutions, and only on a CPU whose flags show native bf16
(AVX512_BF16 or AMX): elsewhere bf16 is emulated and slower still.
"""

from __future__ import annotations

import functools
from pathlib import Path

from mnist_app.engine.config import RunConfig, layer_plan
from mnist_app.engine.plan import Conv

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # Keras dtype policies
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; empty where there is no /proc/cpuinfo."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively."""
    return bool(cpu_flags() & BF16_FLAGS)


def has_convolutions(config: RunConfig) -> bool:
    return any(isinstance(spec, Conv) for spec in layer_plan(config))


def resolve(config: RunConfig, native: bool | None = None) -> str:
    """The precision a run trains in: "float32" or "bfloat16" (`auto` decided here)."""
    if config.precision != "auto":
        return config.precision
    native = native_bf16() if native is None else native
    return "bfloat16" if native and has_convolutions(config) else "float32"


def policy(config: RunConfig) -> str:
    """The Keras dtype policy of the network's hidden layers."""
    return POLICIES[resolve(config)]
