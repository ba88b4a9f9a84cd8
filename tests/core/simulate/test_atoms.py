"""The simulator of atoms: physics with known answers, lattice spacings, Z-contrast, dose, seeds, bad input."""

import numpy as np
import pytest

from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.core.simulate import Acquisition, ScanArtifacts, STEMProbe, acquire, electron_wavelength, interaction_parameter
from napari_lowdose.core.simulate import structures as st
from napari_lowdose.core.simulate.atomic import Specimen, render_haadf
from napari_lowdose.core.simulate.potential import scattering_factor
from napari_lowdose.core.simulate.scene import AtomicScene, simulate_atomic


def test_constants_known_values():
    assert electron_wavelength(200) == pytest.approx(0.02508, abs=2e-5)
    assert interaction_parameter(200) == pytest.approx(7.288e-4, rel=2e-3)  # Kirkland, table 5.2
    assert interaction_parameter(300) == pytest.approx(6.526e-4, rel=2e-3)
    # f_e(0) (the atom's size, not its Z: silicon's exceeds copper's) and the high-angle tail, heavier atoms higher
    f0 = {s: float(scattering_factor(s, np.array(0.0))) for s in ("C", "Si", "Cu", "Au")}
    assert f0["C"] == pytest.approx(2.51, abs=0.05) and f0["C"] < f0["Cu"] < f0["Au"] and f0["C"] < f0["Si"]
    tail = [float(scattering_factor(s, np.array(1.5))) for s in ("C", "Si", "Cu", "Au")]
    assert tail == sorted(tail)
    assert scattering_factor("Au", np.array(2.0)) < 0.2 * scattering_factor("Au", np.array(0.0))


def test_probe_width_is_the_airy_disc():
    probe = STEMProbe(voltage_kv=200, convergence_mrad=25, source_size=0.0)
    p = probe.intensity(0.02, 512)
    assert p.sum() == pytest.approx(1.0)
    row = p[256]
    above = np.nonzero(row >= row.max() / 2)[0]
    fwhm = (above[-1] - above[0] + 1) * 0.02
    assert fwhm == pytest.approx(0.51 * electron_wavelength(200) / 0.025, rel=0.1)


def _peaks(image: np.ndarray, pixel_size: float, n: int) -> list[float]:
    """Spacings (Å) of the n strongest spectrum peaks, each refined by its 3x3 centroid."""
    im = image - image.mean()
    win = np.outer(np.hanning(im.shape[0]), np.hanning(im.shape[1]))
    power = np.abs(np.fft.fftshift(np.fft.fft2(im * win))) ** 2
    cy, cx = im.shape[0] // 2, im.shape[1] // 2
    power[cy - 2 : cy + 3, cx - 2 : cx + 3] = 0
    out = []
    work = power.copy()
    for _ in range(n):
        y, x = np.unravel_index(np.argmax(work), work.shape)
        sl = work[y - 1 : y + 2, x - 1 : x + 2]
        yy, xx = np.mgrid[y - 1 : y + 2, x - 1 : x + 2]
        fy = (sl * yy).sum() / sl.sum() - cy
        fx = (sl * xx).sum() / sl.sum() - cx
        k = np.hypot(fy / (im.shape[0] * pixel_size), fx / (im.shape[1] * pixel_size))
        out.append(1.0 / k)
        work[y - 3 : y + 4, x - 3 : x + 4] = 0
    return out


@pytest.mark.parametrize(
    "structure, zone, modality",
    [("SrTiO3", (0, 0, 1), "haadf"), ("Au", (1, 1, 0), "haadf"), ("Si", (1, 1, 0), "haadf"), ("GaN", (0, 0, 1), "haadf"), ("MoS2", (0, 0, 1), "haadf"), ("CeO2", (1, 1, 0), "hrtem")],
)
def test_lattice_spacings_match_the_structure(structure, zone, modality):
    scene = AtomicScene(structure=structure, zone=zone, modality=modality, shape=(256, 256), pixel_size=0.17, thickness=40.0)
    image = simulate_atomic(scene, seed=3)
    expected = [d for _, d in st.plane_spacings(st.crystal(structure), zone, max_index=4)]
    found = _peaks(image, scene.pixel_size, 4)
    for d in found:  # every strong peak is a lattice spacing of the structure, within 2 %
        assert min(abs(d - e) / e for e in expected) < 0.02, (structure, d, sorted(set(np.round(expected, 3)))[-6:])
    assert max(found) > 1.5  # lattice planes, not pixel-scale noise


def test_column_intensity_orders_by_atomic_number():
    symbols = np.array(["C", "Si", "Cu", "Ag", "Au"])
    xy = np.array([[8.0 + 10 * i, 25.0] for i in range(5)])
    spec = Specimen(symbols, np.column_stack([xy, np.zeros(5)]), (50.0, 56.0))
    image = render_haadf(spec, 0.1, (500, 560))
    peaks = [image[int(round(y / 0.1)) - 3 : int(round(y / 0.1)) + 4, int(round(x / 0.1)) - 3 : int(round(x / 0.1)) + 4].max() for x, y in xy]
    assert np.all(np.diff(peaks) > 0), peaks
    # Z^gamma: gold over silicon close to (79 / 14)^1.7
    assert peaks[4] / peaks[1] == pytest.approx((79 / 14) ** 1.7, rel=0.05)


def test_dose_scales_mean_and_poisson_variance():
    truth = np.full((256, 256), 0.05, np.float32)
    means, variances = [], []
    for dose in (100.0, 400.0):
        acq = Acquisition(dose=dose, artifacts=ScanArtifacts.none(), detector_gain=1.0, detector_offset=0.0, read_noise=0.0)
        counts = acquire(truth, 0.2, acq, seed=5).astype(np.float64)
        means.append(counts.mean())
        variances.append(counts.var())
        assert counts.mean() == pytest.approx(dose * 0.04 * 0.05, rel=0.02)
    assert means[1] / means[0] == pytest.approx(4.0, rel=0.03)
    assert variances[0] == pytest.approx(means[0], rel=0.05) and variances[1] == pytest.approx(means[1], rel=0.05)


def test_same_seed_same_image_and_other_seed_other_image():
    scene = AtomicScene(structure="Au", kind="particles", shape=(64, 64), pixel_size=0.5, particle_diameter=(12.0, 18.0))
    a, b, c = simulate_atomic(scene, 1), simulate_atomic(scene, 1), simulate_atomic(scene, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_amorphous_support_is_packed_not_white():
    from scipy.spatial import cKDTree

    from napari_lowdose.core.simulate.specimen import BLOCK, amorphous_block

    symbols, pos = amorphous_block("C", 0)
    d, _ = cKDTree(pos, boxsize=BLOCK).query(pos, k=2)
    assert d[:, 1].min() > 1.3 and len(pos) / BLOCK**3 == pytest.approx(0.100, rel=0.01)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(structure="Unobtainium"), "unknown structure"),
        (dict(zone=(0, 0, 0)), "zone axis"),
        (dict(pixel_size=0.0), "pixel size"),
        (dict(pixel_size=float("nan")), "pixel size"),
        (dict(kind="soup"), "kind"),
    ],
)
def test_bad_scenes_get_one_clear_message(kwargs, words):
    with pytest.raises(LowdoseError, match=words):
        simulate_atomic(AtomicScene(**{"shape": (32, 32), **kwargs}))


def test_structure_files(tmp_path):
    from ase.build import bulk
    from ase.io import write

    write(tmp_path / "pt.cif", bulk("Pt", "fcc", a=3.92, cubic=True))
    image = simulate_atomic(AtomicScene(structure=str(tmp_path / "pt.cif"), shape=(64, 64), pixel_size=0.25, thickness=20.0))
    assert image.max() > 0
    (tmp_path / "bad.cif").write_text("this is not a cif\n")
    with pytest.raises(LowdoseError, match="bad.cif: ASE cannot read"):
        simulate_atomic(AtomicScene(structure=str(tmp_path / "bad.cif"), shape=(32, 32)))
    with pytest.raises(LowdoseError, match="no such structure file"):
        simulate_atomic(AtomicScene(structure=str(tmp_path / "missing.cif"), shape=(32, 32)))


def test_random_scenes_of_both_modalities_are_valid():
    from napari_lowdose.core.simulate.scene import random_atomic_scene

    rng = np.random.default_rng(5)
    for _ in range(40):  # every draw builds a valid config (e.g. a corrected microscope's negative Cs)
        for modality in ("haadf", "hrtem"):
            scene = random_atomic_scene(rng, modality, 64)
            assert scene.modality == modality and 0.05 <= scene.pixel_size <= 1.0
