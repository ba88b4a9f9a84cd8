"""Running the core's progress generators to the end (command line, scripts, blocking API)."""

from __future__ import annotations

from typing import Callable, Generator, TypeVar

Y = TypeVar("Y")
R = TypeVar("R")


def drive(gen: Generator[Y, None, R], on_step: Callable[[Y], None] | None = None) -> R:
    """Exhaust ``gen``, calling ``on_step`` with every record it yields; return its return value."""
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_step is not None:
            on_step(step)
