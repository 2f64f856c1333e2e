"""Portable Gaussian noise: Philox4x32-10 + Box-Muller (see docs/zoo-contract.md).

key = (seed mod 2^32, floor(seed / 2^32)), counter = (i, 0, 0, 0) for block i. Each block's
words w0..w3 give u = ((w >> 8) + 0.5) / 2^24 (float64) and two Box-Muller pairs
(w0, w1), (w2, w3): z0 = sqrt(-2 ln ua) cos(2 pi ub), z1 = sqrt(-2 ln ua) sin(2 pi ub),
emitted in the order z0(w0,w1), z1(w0,w1), z0(w2,w3), z1(w2,w3). Values fill the tensor in
C order and are cast to float32.
"""
from __future__ import annotations

import hashlib

import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox4x32_10(ctr: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """ctr: uint64 array (n, 4) holding uint32 values. Returns (n, 4) uint64 (uint32 values)."""
    c0, c1, c2, c3 = (ctr[:, i].astype(np.uint64) for i in range(4))
    k0, k1 = np.uint64(key[0] & MASK), np.uint64(key[1] & MASK)
    m0, m1, mask = np.uint64(M0), np.uint64(M1), np.uint64(MASK)
    for r in range(10):
        if r:
            k0 = np.uint64((int(k0) + W0) & MASK)
            k1 = np.uint64((int(k1) + W1) & MASK)
        p0 = m0 * c0          # < 2^64: exact in uint64
        p1 = m1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & mask
        hi1, lo1 = p1 >> np.uint64(32), p1 & mask
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack([c0, c1, c2, c3], axis=1)


def philox_normal(seed: int, n: int) -> np.ndarray:
    """First n standard normals (float32) of the stream for `seed`."""
    seed = int(seed)
    key = (seed & MASK, (seed >> 32) & MASK)
    nblocks = (n + 3) // 4
    ctr = np.zeros((nblocks, 4), np.uint64)
    ctr[:, 0] = np.arange(nblocks, dtype=np.uint64)
    w = philox4x32_10(ctr, key).astype(np.float64)
    u = (np.floor(w / 256.0) + 0.5) / 16777216.0
    ra = np.sqrt(-2.0 * np.log(u[:, 0]))
    rb = np.sqrt(-2.0 * np.log(u[:, 2]))
    ta = 2.0 * np.pi * u[:, 1]
    tb = 2.0 * np.pi * u[:, 3]
    z = np.stack([ra * np.cos(ta), ra * np.sin(ta), rb * np.cos(tb), rb * np.sin(tb)], axis=1)
    return z.reshape(-1)[:n].astype(np.float32)


def philox_noise(seed: int, shape) -> np.ndarray:
    n = int(np.prod(shape))
    return philox_normal(seed, n).reshape(shape)


def checksum(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x, dtype="<f4").tobytes()).hexdigest()


def test_vectors() -> dict:
    """Known-answer tests (Random123's philox4x32_10 KAT) plus noise vectors."""
    kat = [((0, 0, 0, 0), (0, 0)),
           ((MASK, MASK, MASK, MASK), (MASK, MASK)),
           ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0))]
    out = {"philox4x32_10": [], "noise": []}
    for ctr, key in kat:
        r = philox4x32_10(np.array([ctr], np.uint64), key)[0]
        out["philox4x32_10"].append({"counter": [f"{v:08x}" for v in ctr], "key": [f"{v:08x}" for v in key],
                                     "output": [f"{int(v):08x}" for v in r]})
    for seed in (0, 1, 42, 123456789, 2 ** 32 + 7, 2 ** 53 - 1):
        z = philox_noise(seed, (1, 16, 8, 8))
        out["noise"].append({"seed": seed, "shape": [1, 16, 8, 8], "first": [float(v) for v in z.reshape(-1)[:8]],
                             "sum": float(z.astype(np.float64).sum()),
                             "sha256_f32le": checksum(z)})
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(test_vectors(), indent=1))
