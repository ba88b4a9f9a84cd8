"""Shared fixtures. GUI tests need OpenGL, which Qt's offscreen platform lacks, so without a display the
session runs on a virtual X display (Xvfb), started with the same helper the CLI uses."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "real-data"

_display = contextlib.ExitStack()


def pytest_configure(config):
    from napari_lowdose._display import has_display, virtual_display

    os.environ.setdefault("NAPARI_ASYNC", "0")
    if not has_display():
        _display.enter_context(virtual_display())


def pytest_unconfigure(config):
    _display.close()


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(f"real instrument files not found at {REAL_DATA}")
    return REAL_DATA
