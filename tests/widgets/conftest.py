import pytest


@pytest.fixture(autouse=True)
def _finish_workers(qtbot, make_napari_viewer):  # set up after, so torn down before, the viewer
    """Let background workers finish before napari's fixture tears the viewer down."""
    yield
    from superqt.utils._qthreading import WorkerBase

    qtbot.waitUntil(lambda: not WorkerBase._worker_set, timeout=20000)
