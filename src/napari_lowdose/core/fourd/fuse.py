"""Putting the centre's own counts back: a band-by-band shrinkage of the residual between the noisy data
and the blind-spot prediction.

The blind-spot prediction ``p`` never saw the pattern it predicts, so the residual ``r = y - p`` is the sum
of the prediction's error and the Poisson noise of ``y``, and the two are independent. Split ``r`` into
detector-scale bands (differences of Gaussians over the detector: fine detail ... the pattern's broad
shape), then in each band ``b`` and at each detector pixel ``k``::

    w_b(k) = max(0, 1 - noise_b(k) / mean over the scan of r_b(k)^2)

where ``noise_b`` is the variance the Poisson noise alone would put into that band (found by filtering
noise of the predicted variance the same way). The result ``p + sum_b w_b r_b`` keeps the prediction
where the counts are mostly noise (fine detail at low dose) and takes the measurement back where the
prediction is systematically off (broad features such as the annular dark-field signal, which a
prediction from the neighbours smooths across the scan). Every number comes from the noisy data; no
truth is used. Axis order (scan y, scan x, ky, kx).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


PIECE = 2**21  #: pixel values (float32: 8 MB) split into bands at a time


def band_sigmas(detector: tuple[int, int]) -> tuple[float, ...]:
    """Gaussian widths (px) of the band edges: 1, 2, 4, ... up to a quarter of the detector's side."""
    out, s = [], 1.0
    while s <= min(detector) / 4:
        out.append(s)
        s *= 2
    return tuple(out)


def _kernels(detector: tuple[int, int], sigmas: tuple[float, ...]) -> list[np.ndarray]:
    """Periodic (ky, kx) kernels of the bands: delta - G1, G1 - G2, ..., G_last - U, U (G: a sampled
    Gaussian of sum 1 centred on pixel (0, 0); U: the uniform kernel, the detector mean)."""
    ny, nx = detector
    y = np.fft.fftfreq(ny) * ny
    x = np.fft.fftfreq(nx) * nx
    smooth = [np.zeros(detector)]
    smooth[0][0, 0] = 1.0
    for s in sigmas:
        g = np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2) / s**2)
        smooth.append(g / g.sum())
    smooth.append(np.full(detector, 1.0 / (ny * nx)))
    return [smooth[i] - smooth[i + 1] for i in range(len(smooth) - 1)] + [smooth[-1]]


def bands(residual: np.ndarray, sigmas: tuple[float, ...]) -> list[np.ndarray]:
    """Split (..., ky, kx) into len(sigmas) + 2 bands that add up to ``residual`` (periodic convolutions
    over the detector with :func:`_kernels`): fine detail first, the pattern's mean last."""
    r = np.asarray(residual, np.float32)
    fr = np.fft.rfft2(r)
    return [np.fft.irfft2(fr * np.fft.rfft2(k), s=r.shape[-2:]).astype(np.float32) for k in _kernels(r.shape[-2:], sigmas)]


class BandFusion:
    """Accumulates ``sum over the scan of r_b^2`` and of the prediction (:meth:`add`), then gives the
    weights (:meth:`weights`) and fuses blocks (:meth:`fuse`)."""

    def __init__(self, detector: tuple[int, int], smooth: float = 2.0) -> None:
        self.sigmas = band_sigmas(detector)
        self.smooth = smooth
        self.power = np.zeros((len(self.sigmas) + 2, *detector), np.float64)
        self.pred = np.zeros(detector, np.float64)
        self.n = 0
        self._w: np.ndarray | None = None

    def _pieces(self, noisy: np.ndarray, predicted: np.ndarray):
        """(slice, noisy, predicted) of at most PIECE pixel values at a time, positions flattened: the
        bands' FFTs (complex128) of a whole block of large patterns would take several times its size."""
        det = tuple(self.power.shape[1:])
        nf = np.asarray(noisy, np.float32).reshape(-1, *det)
        pf = np.asarray(predicted, np.float32).reshape(-1, *det)
        step = max(1, PIECE // int(np.prod(det)))
        for s in range(0, len(nf), step):
            yield slice(s, s + step), nf[s : s + step], pf[s : s + step]

    def add(self, noisy: np.ndarray, predicted: np.ndarray) -> None:
        """A block of scan positions (..., ky, kx): noisy counts and the blind-spot prediction."""
        for _, nf, pf in self._pieces(noisy, predicted):
            for b, rb in enumerate(bands(nf - pf, self.sigmas)):
                self.power[b] += (rb.astype(np.float64) ** 2).sum(axis=0)
            self.pred += np.maximum(pf.astype(np.float64), 0).sum(axis=0)
            self.n += len(nf)
        self._w = None

    def noise_power(self) -> np.ndarray:
        """(bands, ky, kx): the mean square each band would hold from Poisson noise alone, exactly: the
        band's squared kernel convolved with the noise variance (the mean prediction per pixel)."""
        var = self.pred / max(self.n, 1)
        fv = np.fft.rfft2(var)
        return np.stack([np.fft.irfft2(fv * np.fft.rfft2(k**2), s=var.shape) for k in _kernels(var.shape, self.sigmas)])

    def weights(self) -> np.ndarray:
        """(bands, ky, kx) weights in [0, 1] of the residual's bands (smoothed over the detector)."""
        if self._w is None:
            total = self.power / max(self.n, 1)
            noise = self.noise_power()
            s = (0, self.smooth, self.smooth)
            t = ndimage.gaussian_filter(total, s, mode="reflect")
            nz = ndimage.gaussian_filter(noise, s, mode="reflect")
            self._w = np.clip(1.0 - nz / np.maximum(t, 1e-20), 0.0, 1.0).astype(np.float32)
        return self._w

    def fuse(self, noisy: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """``predicted + sum_b w_b r_b`` for a block (..., ky, kx), float32. Not clipped at 0: a few
        slightly negative pixels keep the sums (virtual images) unbiased where counts are sparse."""
        shape = np.shape(predicted)
        out = np.empty((int(np.prod(shape[:-2])), *shape[-2:]), np.float32)
        for where, nf, pf in self._pieces(noisy, predicted):
            out[where] = pf
            for w, rb in zip(self.weights(), bands(nf - pf, self.sigmas)):
                out[where] += w * rb
        return out.reshape(shape)


def mean_gain(noisy_mean: np.ndarray, denoised_mean: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Per detector pixel gain that maps the denoised mean pattern onto the noisy one (both smoothed by a
    Gaussian of ``sigma`` px, so the gain is not noisy where counts are few); 1 where both are zero."""
    from scipy import ndimage

    a = ndimage.gaussian_filter(np.asarray(noisy_mean, np.float64), sigma)
    b = ndimage.gaussian_filter(np.asarray(denoised_mean, np.float64), sigma)
    tiny = 1e-12 * max(float(a.max()), float(b.max()), 1e-30)
    return np.where(b > tiny, a / np.maximum(b, tiny), 1.0)


def mean_of(data) -> np.ndarray:
    acc = np.zeros(data.shape[2:], np.float64)
    for r in range(data.shape[0]):
        acc += np.maximum(np.asarray(data[r], np.float64), 0).sum(axis=0)
    return acc / (data.shape[0] * data.shape[1])
