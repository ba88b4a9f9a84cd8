"""napari-lowdose: denoise low-dose STEM/TEM images in napari.

Public API (imported lazily, so loading the plugin manifest stays fast):

- ``resolution(image, pixel_size=None)`` -> :class:`~napari_lowdose.core.spectrum.ResolutionReport`
- ``fft_mask(image, keep=0.65, notch=False)`` -> low-passed float32 image
- ``denoise(image, model=None, tile=None, overlap=None, device="auto", flips=1)`` -> float32, input's shape
  (``flips`` 2 or 4: averaged over flipped copies, 2x or 4x the time)
- ``load_model(path=None)``: a safetensors model + JSON card (None: the bundled HAADF-STEM model;
  ``"haadf"`` / ``"hrtem"``: a bundled model by name)
- ``read_image(path)`` / ``write_image(path, data, pixel_size)``: files with their pixel size (Å)
- ``denoise_files(paths, outdir=None, model=None, client=None, workers=None, scheduler=None, ...)`` ->
  one :class:`~napari_lowdose.batch.task.FileRecord` per file: a batch on a Dask cluster (one task per
  file; a LocalCluster of ``workers`` processes unless a ``client`` or ``scheduler`` address is given)
"""

__version__ = "0.1.0"

_LAZY = {
    "resolution": "napari_lowdose.core.spectrum",
    "fft_mask": "napari_lowdose.core.spectrum",
    "ResolutionConfig": "napari_lowdose.core.spectrum",
    "ResolutionReport": "napari_lowdose.core.spectrum",
    "denoise": "napari_lowdose.core.tiling",
    "load_model": "napari_lowdose.core.model",
    "save_model": "napari_lowdose.core.model",
    "read_image": "napari_lowdose.io",
    "write_image": "napari_lowdose.io",
    "denoise_files": "napari_lowdose.batch.cluster",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'napari_lowdose' has no attribute {name!r}")
