"""Trust: does a denoised image agree with the noisy data it came from? Gain and offset from the image
(:mod:`.gain`), the SBD atom likelihood (:mod:`.likelihood`), the local deviance of the residual
(:mod:`.agreement`), lattice reflections left in the residual (:mod:`.residual`), and :func:`check`,
which runs them all and returns a :class:`TrustReport`. numpy and scipy only."""

from .check import FLAG_KINDS, Flag, TrustReport, check, warning
from .gain import GainEstimate, estimate_gain, given

__all__ = ["FLAG_KINDS", "Flag", "TrustReport", "check", "warning", "GainEstimate", "estimate_gain", "given"]
