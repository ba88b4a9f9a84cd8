"""Exceptions with messages meant for the user (napari notification or one CLI line)."""

from __future__ import annotations


class LowdoseError(Exception):
    """Base class: every error the plugin raises on purpose, with a message a microscopist can act on."""


class InvalidImageError(LowdoseError, ValueError):
    """The pixel data cannot be processed (NaN/Inf, RGB, complex, too small, wrong dimensions)."""


class FileFormatError(LowdoseError, ValueError):
    """A file the plugin claims (by extension) could not be read as an image."""
