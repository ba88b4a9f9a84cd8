"""Reading and writing microscope images with their pixel size (no Qt, no napari).

One length unit for all formats: the ångström. ``ImageData.scale`` is in Å per pixel for the spatial
axes, so it can go straight into ``layer.scale`` with ``layer.units = "angstrom"``.
"""

from .read import SUPPORTED_EXTENSIONS, ImageData, Images, is_processed, read_image
from .read4d import FOURD_EXTENSIONS, FourDData, read_4dstem
from .write import WRITE_EXTENSIONS, atomic_write, write_image
from .write4d import open_4d_output

__all__ = [
    "FOURD_EXTENSIONS",
    "FourDData",
    "read_4dstem",
    "open_4d_output",
    "ImageData",
    "Images",
    "is_processed",
    "SUPPORTED_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "atomic_write",
    "read_image",
    "write_image",
]
