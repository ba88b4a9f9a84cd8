"""Length units. The plugin's one length unit is the ångström (Å): ``layer.scale`` is in Å per pixel.

Microscope files write their pixel sizes in many spellings ('nm', 'n_m', 'µm', 'um', 'micron', 'pm',
'Å', 'A', 'm', 'cm', 'inch'); :func:`to_angstrom_factor` maps each to the factor that turns a value in
that unit into Å.
"""

from __future__ import annotations

ANGSTROM = "angstrom"  #: the pint/napari spelling used for ``layer.units``

_FACTORS = {
    "angstrom": 1.0,
    "a": 1.0,
    "å": 1.0,
    "\u212b": 1.0,  # ANGSTROM SIGN
    "nm": 10.0,
    "n_m": 10.0,  # Velox EMD writes this
    "nanometer": 10.0,
    "nanometre": 10.0,
    "pm": 0.01,
    "picometer": 0.01,
    "um": 1e4,
    "µm": 1e4,
    "\u03bcm": 1e4,  # GREEK SMALL LETTER MU
    "micron": 1e4,
    "micrometer": 1e4,
    "mm": 1e7,
    "cm": 1e8,
    "centimeter": 1e8,
    "inch": 2.54e8,
    "m": 1e10,
    "meter": 1e10,
}


def normalise_unit(unit: str | None) -> str:
    """Lower-case, strip and undo the escapes some writers use (ImageJ writes ``\\u00B5m``)."""
    if unit is None:
        return ""
    text = str(unit).strip()
    if "\\u" in text:
        try:
            text = text.encode("ascii", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError:
            pass
    return text.strip().lower()


def to_angstrom_factor(unit: str | None) -> float | None:
    """Factor that converts a length in ``unit`` to Å, or ``None`` when ``unit`` is not a length."""
    return _FACTORS.get(normalise_unit(unit))


def is_length_unit(unit: str | None) -> bool:
    return to_angstrom_factor(unit) is not None
