"""Sample data shipped with napari-lowdose (installed as the package ``napari_lowdose.sample_data``).

The files are made by ``python scripts/make_sample_data.py`` from the project's deterministic
simulator (``napari_lowdose.core.simulate``); ``sample.json`` records the exact parameters and seed.
"""
