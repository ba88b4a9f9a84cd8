import json
import subprocess
import sys

FORBIDDEN = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "magicgui", "superqt", "vispy")


def test_core_imports_no_qt_and_no_napari():
    code = (
        "import sys, json; import napari_lowdose.core, napari_lowdose.io; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))" % (FORBIDDEN,)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"core/io pulled in GUI modules: {loaded}"


def test_core_sources_have_no_gui_imports():
    from pathlib import Path

    import napari_lowdose.core as core

    for path in Path(core.__file__).parent.rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                top = stripped.split()[1].split(".")[0]
                assert top not in FORBIDDEN, f"{path.name}: {stripped}"
