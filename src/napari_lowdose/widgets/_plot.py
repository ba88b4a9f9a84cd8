"""A small matplotlib canvas that follows napari's dark theme."""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

FOREGROUND = "#d0d0d0"
BACKGROUND = "#262930"  # napari's dark theme


class PlotCanvas(FigureCanvasQTAgg):
    def __init__(self, width: float = 4.0, height: float = 3.0) -> None:
        figure = Figure(figsize=(width, height), dpi=90, facecolor=BACKGROUND, layout="constrained")
        super().__init__(figure)
        self.setMinimumHeight(int(height * 80))
        self.axes = figure.add_subplot(111)
        self.style_axes()

    def style_axes(self) -> None:
        ax = self.axes
        ax.set_facecolor(BACKGROUND)
        for spine in ax.spines.values():
            spine.set_color(FOREGROUND)
        ax.tick_params(colors=FOREGROUND, labelsize=8)
        ax.xaxis.label.set_color(FOREGROUND)
        ax.yaxis.label.set_color(FOREGROUND)
        ax.title.set_color(FOREGROUND)
