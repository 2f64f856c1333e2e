"""Atelier tiny model zoo builder (shapes world, tiny FLUX-Kontext-like model, judge).

Run from models/zoo:  /usr/bin/python3 -m zoo.<command> [--smoke]
See models/zoo/README.md and docs/zoo-contract.md.
"""
import os as _os

# The CPU is shared: OpenMP threads that spin-wait at barriers slow everything down by 5-10x
# when another process holds a core. Passive waiting must be chosen before torch loads libgomp.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# glibc returns freed large blocks (every activation tensor) to the kernel and maps fresh,
# zero-filled pages for the next one; on this VM that made elementwise ops 3-5x slower.
# Keep freed memory in the process: raise the mmap threshold to its maximum (32 MiB) and never trim.
try:
    import ctypes as _ct
    _libc = _ct.CDLL("libc.so.6")
    _libc.mallopt(-3, 32 * 1024 * 1024)      # M_MMAP_THRESHOLD
    _libc.mallopt(-1, 2 ** 31 - 1)           # M_TRIM_THRESHOLD
    _libc.mallopt(-2, 64 * 1024 * 1024)      # M_TOP_PAD
except Exception:  # non-glibc platforms: nothing to tune
    pass
