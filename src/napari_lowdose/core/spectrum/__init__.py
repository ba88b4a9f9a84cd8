"""Fourier tools for one 2-D image: the FFT low-pass mask and the resolution / anisotropy readout.

Conventions. Images are ``(y, x)``, x the fast-scan direction. Spatial frequencies are in **cycles per
pixel** (Nyquist = 0.5); with a pixel size ``p`` in Å, a frequency ``k`` is ``k / p`` Å⁻¹ and its
resolution (period) is ``p / k`` Å. The mask's cutoff ``keep`` is a **fraction of Nyquist**, measured as
a radius: the frequency ``(ky, kx)`` sits at ``r = sqrt(kx² + ky²) / 0.5``; ``r <= keep`` passes.

Method (the Gold Standard seeds), a module per job:

* :mod:`.mask`: the FFT mask (:func:`fft_mask`, :class:`MaskedFilter` for the live slider,
  :func:`iter_fft_mask` for stacks): keep the lowest ``keep`` of the frequencies with a raised-cosine
  edge, optional notch at kx = Nyquist.
* :mod:`.readout`: the resolution readout (:func:`resolution`, :class:`ResolutionConfig`,
  :class:`ResolutionReport`): the highest frequency at which the radially averaged power spectrum,
  scan-artifact lines left out, exceeds ``factor`` (3) x the noise level; the same in wedges around the
  kx and ky axes gives the x / y cutoffs and the anisotropy.
* :mod:`.frc`: the second, independent estimate, a one-image Fourier ring correlation between two
  half-images (binomial split for counts, checkerboard otherwise), 1/7 threshold.
* :mod:`.noise`: the noise level, its floor per kx column (scan-line streaks), its whiteness, and
  whether an image holds Poisson counts.
* :mod:`.grid`: what they share: frequency grids, the Hann-windowed spectrum, radial and wedge profiles.

The names below are the package's interface; the modules' private helpers are imported from the
modules themselves.
"""

from .frc import MIN_SAMPLES, SplitKind, frc_curve, frc_failure
from .grid import MIN_SIDE, Profile, as_plane, windowed_spectrum
from .mask import MaskedFilter, Progress, describe_cutoff, fft_mask, iter_fft_mask, keep_to_frequency, lowpass_mask, mask_profile
from .noise import MIN_STREAKS, STREAK_SIGMAS, WHITE_RANGE, column_floor, looks_like_counts, noise_whiteness
from .readout import FALSE_ALARM, NO_CUTOFF, NOT_MEASURABLE, ResolutionConfig, ResolutionReport, resolution

__all__ = [
    "FALSE_ALARM",
    "MIN_SAMPLES",
    "MIN_SIDE",
    "MIN_STREAKS",
    "NOT_MEASURABLE",
    "NO_CUTOFF",
    "STREAK_SIGMAS",
    "WHITE_RANGE",
    "MaskedFilter",
    "Profile",
    "Progress",
    "ResolutionConfig",
    "ResolutionReport",
    "SplitKind",
    "as_plane",
    "column_floor",
    "describe_cutoff",
    "fft_mask",
    "frc_curve",
    "frc_failure",
    "iter_fft_mask",
    "keep_to_frequency",
    "looks_like_counts",
    "lowpass_mask",
    "mask_profile",
    "noise_whiteness",
    "resolution",
    "windowed_spectrum",
]
