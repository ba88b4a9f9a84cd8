"""Build the sdist and wheel, install the wheel into a fresh virtual environment, and check that the
installed plugin finds its manifest and sample data (not the source tree)."""

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel from the sdist: what a user's pip does from PyPI
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (whl,) = out.glob("*.whl")
    return whl


def test_wheel_contains_manifest_and_sample_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "napari_lowdose/napari.yaml" in names
    for module in ("batch/__init__.py", "batch/cluster.py", "batch/stack.py", "batch/task.py", "batch/watch.py", "cli_batch.py", "cli_watch.py", "widgets/live.py",
                   "cli_phase.py", "io/segments.py", "widgets/segmented.py", "core/segmented/dpc.py", "core/segmented/learned.py"):
        assert f"napari_lowdose/{module}" in names
    for name in ("gold_islands_1us.tif", "gold_islands_4us.tif", "sample.json"):
        assert f"napari_lowdose/sample_data/{name}" in names
    weights = 0
    for model in ("haadf", "hrtem", "segmented"):  # the bundled models ship, nothing is downloaded
        for ext in ("safetensors", "json"):
            assert f"napari_lowdose/models/{model}.{ext}" in names
        weights += zipfile.ZipFile(wheel).getinfo(f"napari_lowdose/models/{model}.safetensors").file_size
    assert weights <= 10_000_000
    manifest = zipfile.ZipFile(wheel).read("napari_lowdose/napari.yaml").decode()
    assert manifest == (ROOT / "napari.yaml").read_text()
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "napari-lowdose = napari_lowdose:napari.yaml" in text
    assert "napari-lowdose = napari_lowdose.cli:main" in text


def test_wheel_in_a_fresh_venv_validates_and_reads(wheel, tmp_path):
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    # the plugin from the wheel, into the fresh venv's own site-packages
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
        check=True,
    )
    # its dependencies (napari, torch, ...) from the test environment, after the venv's own packages
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    check = (
        "import napari_lowdose, pathlib, sys; "
        "from npe2 import PluginManager; "
        "pm = PluginManager.instance(); pm.discover(); "
        "m = pm.get_manifest('napari-lowdose'); "
        "from napari_lowdose._sample_data import lowdose_pair; "
        "layers = lowdose_pair(); "
        "from napari_lowdose.core.model import load_model; assert load_model(None).card.name; "
        "print(napari_lowdose.__file__); print(m.name, len(layers), layers[0][1]['scale'])"
    )
    out = subprocess.run([str(py), "-c", check], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    module_file, summary = out.stdout.strip().splitlines()[-2:]
    assert module_file.startswith(str(site)), f"imported from {module_file}, not the wheel"
    assert summary == "napari-lowdose 2 (5.0, 5.0)"
    validate = subprocess.run([str(py), "-m", "npe2", "validate", "napari-lowdose"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert validate.returncode == 0 and "valid" in validate.stdout, validate.stdout + validate.stderr


def test_editable_install_validates():
    npe2 = Path(sys.executable).parent / "npe2"
    proc = subprocess.run([str(npe2), "validate", "napari-lowdose"], capture_output=True, text=True)
    assert proc.returncode == 0 and "valid" in proc.stdout, proc.stdout + proc.stderr
