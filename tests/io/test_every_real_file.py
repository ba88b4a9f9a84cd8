"""Every file in ../shared/real-data and ../shared/real-data/4d opens the signals it can, or is refused with
one sentence naming the file (and the signal); one bad signal never blocks the others."""

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.io import read_image, write_image


def _all_files(root):
    return sorted(p for p in list(root.glob("*.*")) + list((root / "4d").glob("*.*")) if p.suffix != ".md")


def test_every_real_file_opens_what_it_can_or_names_itself(real_data):
    opened = refused = 0
    for path in _all_files(real_data):
        try:
            images = read_image(path)
        except LowdoseError as exc:
            text = str(exc)
            assert path.name in text and "\n" not in text, text
            refused += 1
            continue
        assert images, path.name
        opened += 1
        for sentence in images.skipped:
            assert sentence.startswith(f"{path.name} signal '") and "\n" not in sentence, sentence
    assert opened >= 10 and refused >= 5  # what the two folders hold today (README)


def test_one_complex_signal_does_not_block_the_others(real_data):
    images = read_image(real_data / "4d" / "fei_example_dpc_titles.emd")
    signals = {im.metadata["signal"] for im in images}
    assert {"DF4-A", "DF4-B", "DF4-C", "DF4-D", "A-C", "B-D", "iDPC", "Filtered iDPC"} <= signals
    (skipped,) = images.skipped
    assert "'DPC'" in skipped and "complex" in skipped


def test_a_scan_of_diffraction_patterns_is_4d_stem_not_a_spectrum(real_data):
    (image,) = read_image(real_data / "4d" / "Si100_4D.emd")
    assert image.metadata["kind"] == "4D-STEM"
    assert image.data.shape == (2, 11, 11, 8, 8)
    assert "4D-STEM data" in image.metadata["description"] and "spectrum" not in image.metadata["description"]
    assert image.units[-3:] == ("angstrom", "pixel", "pixel") and image.scale[-3] == pytest.approx(5.0)


def test_spectra_and_detector_formats_get_a_sentence(real_data):
    with pytest.raises(LowdoseError, match=r"08_carbon\.dm3 .*signal '08_carbon' is an EELS spectrum"):
        read_image(real_data / "08_carbon.dm3")
    with pytest.raises(LowdoseError, match=r"001_4x2_6bit\.mib is a Quantum Detectors Merlin file \(4D-STEM data\)"):
        read_image(real_data / "4d" / "001_4x2_6bit.mib")
    with pytest.raises(LowdoseError, match=r"16_STOimage\.emi is the index file .* open 16_STOimage_1\.ser"):
        read_image(real_data / "16_STOimage.emi")


def test_provenance_round_trips_through_tiff(tmp_path):
    from napari_lowdose.io import is_processed

    prov = {"processing": "denoised", "model": "haadf", "input": "/data/a.emd", "date": "2026-11-28T07:00:00+00:00"}
    for dtype in (np.float32, np.int32):  # ImageJ and plain tifffile metadata
        path = write_image(tmp_path / f"d_{np.dtype(dtype).name}.tif", np.ones((40, 40), dtype), pixel_size=2.0, provenance=prov)
        (image,) = read_image(path)
        assert image.metadata["provenance"] == prov
        assert is_processed(image.metadata) == "denoised with haadf"
    (plain,) = read_image(write_image(tmp_path / "raw.tif", np.ones((40, 40), np.float32)))
    assert "provenance" not in plain.metadata and is_processed(plain.metadata) == ""
