"""The acquisition mode (STEM or TEM) that an instrument file records, from its original metadata.

* Gatan DM3/DM4: ``ImageTags / Microscope Info / Illumination Mode`` ("STEM ...", "TEM ...") or
  ``Operation Mode`` ("SCANNING", "IMAGING"); a ``DigiScan`` tag group means a scanned image.
* Thermo Velox EMD: the detector that made the image (``BinaryResult / Detector``) and its
  ``DetectorType`` (``ScanningDetector``: STEM; ``ImagingDetector``: TEM camera).
* TIA SER and plain TIFF/MRC record no mode: ``None``, and the user chooses.
"""

from __future__ import annotations

from typing import Any


def _find(d: Any, key: str):
    """The first value under ``key`` anywhere in nested dicts (depth first), or None."""
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def acquisition_mode(original_metadata: dict | None) -> str | None:
    """``"stem"``, ``"tem"`` or ``None`` (not recorded)."""
    om = original_metadata or {}
    illum = _find(om, "Illumination Mode")
    if isinstance(illum, str) and illum.strip():
        text = illum.upper()
        if "STEM" in text:
            return "stem"
        if "TEM" in text:
            return "tem"
    op = _find(om, "Operation Mode")
    if isinstance(op, str) and op.strip():
        if "SCAN" in op.upper():
            return "stem"
        if "IMAG" in op.upper():
            return "tem"
    if _find(om, "DigiScan") is not None:
        return "stem"
    result = om.get("BinaryResult") if isinstance(om, dict) else None
    detectors = om.get("Detectors") if isinstance(om, dict) else None
    if isinstance(result, dict) and isinstance(detectors, dict):
        name = result.get("Detector")
        for det in detectors.values():
            if isinstance(det, dict) and det.get("DetectorName") == name:
                kind = str(det.get("DetectorType", ""))
                if kind == "ScanningDetector":
                    return "stem"
                if kind == "ImagingDetector":
                    return "tem"
    return None
