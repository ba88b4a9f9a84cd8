"""Segmented STEM detectors (DF4 / DPC): differential phase contrast, integrated DPC, the projected
potential, a simulator of the four segment images with a known potential, and a learned reconstruction.
Segment order and convention: :mod:`.dpc`."""

from .dpc import SEGMENT_NAMES, DetectorGeometry, check_segments, detector_differences, find_rotation, integrate_gradient, rotate_field

__all__ = ["SEGMENT_NAMES", "DetectorGeometry", "check_segments", "detector_differences", "find_rotation", "integrate_gradient", "rotate_field"]
