"""Atomic potentials (Lobato & Van Dyck 2014 parametrisation) and the grid sums of atoms that both
imaging modes start from.

The electron scattering factor of an atom is ``f_e(k) = sum_i a_i (2 + b_i k^2) / (1 + b_i k^2)^2``
(k: spatial frequency in Å⁻¹, ``f_e`` in Å; the published table is in ``data/lobato.json``). The 2-D
Fourier transform of an atom's projected potential is ``2 pi a0 e f_e(k)`` = 47.88 V·Å² x ``f_e`` (Å),
in V·Å³ (Kirkland, *Advanced Computing in Electron Microscopy*, eq. 5.9 with ``a0 e`` = 7.62 V·Å²).

Atoms are put on a grid by cloud-in-cell (bilinear) weights and the grid sum is convolved, in Fourier
space, with whatever an atom looks like (its potential, a probe, a thermal blur); the bilinear weights'
own low-pass is divided out, so sub-pixel positions cost nothing and are not smeared.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from ..errors import LowdoseError

FOURIER_POTENTIAL = 2 * np.pi * 0.529177 * 14.3996  # 2 pi a0 e, V·Å²


@lru_cache(maxsize=1)
def _table() -> dict:
    return json.loads((Path(__file__).parent / "data" / "lobato.json").read_text())["elements"]


def lobato_parameters(symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of Lobato & Van Dyck for an element symbol (a in Å, b in Å²)."""
    try:
        p = _table()[symbol]
    except KeyError:
        raise LowdoseError(f"no scattering factors for element {symbol!r} (H to Lr are known)") from None
    return np.asarray(p["a"]), np.asarray(p["b"])


def scattering_factor(symbol: str, k: np.ndarray) -> np.ndarray:
    """Electron scattering factor ``f_e`` (Å) at spatial frequency ``k`` (Å⁻¹)."""
    a, b = lobato_parameters(symbol)
    k2 = np.asarray(k, np.float64) ** 2
    out = np.zeros_like(k2)
    for ai, bi in zip(a, b):
        out += ai * (2 + bi * k2) / (1 + bi * k2) ** 2
    return out


def frequencies(shape: tuple[int, int], sampling: float) -> tuple[np.ndarray, np.ndarray]:
    """(ky, kx) in Å⁻¹ of the ``rfft2`` of a (ny, nx) grid of ``sampling`` Å, broadcastable."""
    return np.fft.fftfreq(shape[0], d=sampling)[:, None], np.fft.rfftfreq(shape[1], d=sampling)[None, :]


def deposit(positions: np.ndarray, weights: np.ndarray, shape: tuple[int, int], sampling: float) -> np.ndarray:
    """Cloud-in-cell sum of ``weights`` at ``positions`` ((n, 2) as (y, x) in Å; periodic over the grid)
    on a (ny, nx) grid of ``sampling`` Å; grid point (i, j) is at (i, j) x sampling."""
    ny, nx = shape
    f = np.asarray(positions, np.float64) / sampling
    i0 = np.floor(f).astype(np.int64)
    w = f - i0
    wt = np.asarray(weights, np.float64)
    iy = (i0[:, 0] % ny, (i0[:, 0] + 1) % ny)
    ix = (i0[:, 1] % nx, (i0[:, 1] + 1) % nx)
    wy = (1 - w[:, 0], w[:, 0])
    wx = (1 - w[:, 1], w[:, 1])
    corners = [(dy, dx) for dy in (0, 1) for dx in (0, 1)]  # the four neighbours in one histogram
    index = np.concatenate([iy[dy] * nx + ix[dx] for dy, dx in corners])
    weight = np.concatenate([wt * wy[dy] * wx[dx] for dy, dx in corners])
    return np.bincount(index, weights=weight, minlength=ny * nx).reshape(shape)


def deposit_transfer(ky: np.ndarray, kx: np.ndarray, sampling: float) -> np.ndarray:
    """The low-pass of cloud-in-cell deposition, sinc² per axis, floored so it can be divided by."""
    return np.maximum(np.sinc(ky * sampling) ** 2 * np.sinc(kx * sampling) ** 2, 0.2)


def projected_potential_ft(
    symbols: np.ndarray, positions: np.ndarray, shape: tuple[int, int], sampling: float, thermal_sigma: float = 0.0, memo: dict | None = None,
    dtype: type = np.float64,
) -> np.ndarray:
    """The ``rfft2`` of the projected potential (V·Å per grid point after ``irfft2``) of atoms with
    ``symbols`` at ``positions`` ((n, 2), (y, x) in Å), Debye-Waller damped by an rms displacement
    ``thermal_sigma`` (Å per axis). ``memo``: a dict kept by a caller that calls again with the same
    ``shape``, ``sampling`` and ``thermal_sigma`` (slices of one specimen): the scattering factors on
    the grid are computed once. ``dtype``: float64, or float32 for a single-precision (complex64)
    result (the factors are computed in double precision either way)."""
    memo = {} if memo is None else memo
    real = np.dtype(dtype)
    if "damp" not in memo:
        ky, kx = frequencies(shape, sampling)
        memo["k"] = np.sqrt(ky**2 + kx**2)
        memo["damp"] = (np.exp(-2 * np.pi**2 * thermal_sigma**2 * memo["k"] ** 2) / deposit_transfer(ky, kx, sampling) / sampling**2).astype(real)
    total = np.zeros((shape[0], shape[1] // 2 + 1), np.result_type(real, np.complex64))
    symbols = np.asarray(symbols)
    for sym in np.unique(symbols):
        sel = symbols == sym
        grid = deposit(positions[sel], np.ones(int(sel.sum())), shape, sampling).astype(real, copy=False)
        if ("f", str(sym)) not in memo:
            memo[("f", str(sym))] = (FOURIER_POTENTIAL * scattering_factor(str(sym), memo["k"])).astype(real)
        spectrum = sfft.rfft2(grid, overwrite_x=True)
        spectrum *= memo[("f", str(sym))]
        total += spectrum
    total *= memo["damp"]
    return total
