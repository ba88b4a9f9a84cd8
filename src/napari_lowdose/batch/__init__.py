"""Many files: batch runs on a Dask cluster (:mod:`.cluster`) and a live folder watch (:mod:`.watch`),
over the same one-file unit of work (:mod:`.task`). Outside ``core/`` because Dask is orchestration, not
image processing; ``core/`` stays numpy / scipy / torch. Imported lazily: ``watch`` and ``task`` need no Dask."""

_LAZY = {
    "FileRecord": "napari_lowdose.batch.task",
    "denoise_path": "napari_lowdose.batch.task",
    "denoise_files": "napari_lowdose.batch.cluster",
    "iter_denoise_files": "napari_lowdose.batch.cluster",
    "DenoiseOptions": "napari_lowdose.batch.cluster",
    "BatchProgress": "napari_lowdose.batch.cluster",
    "FolderWatcher": "napari_lowdose.batch.watch",
    "WatchEvent": "napari_lowdose.batch.watch",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'napari_lowdose.batch' has no attribute {name!r}")
