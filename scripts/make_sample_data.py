"""Regenerate the shipped sample data from the deterministic simulator.

    python scripts/make_sample_data.py            # writes sample_data/*.tif and sample.json
"""

from pathlib import Path

from napari_lowdose._sample_data import write_atomic_sample_files, write_sample_files

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "sample_data"
    for path in [*write_sample_files(out), *write_atomic_sample_files(out)]:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
