#!/usr/bin/env bash
# Install napari-lowdose into ./.venv with everything it needs on a fresh Debian/Ubuntu machine.
#   bash scripts/install.sh          # the plugin, napari and a Qt binding (PyQt6)
#   bash scripts/install.sh --test   # plus the test tools
# Environment: PYTHON (default python3), TORCH_SPEC (default torch==2.13.0, the CPU wheel on this
# project's machines; on a workstation with a GPU use the CUDA build you want, e.g. TORCH_SPEC=torch).
set -euo pipefail
cd "$(dirname "$0")/.."

extras="pyqt6"
if [ "${1:-}" = "--test" ]; then extras="pyqt6,testing"; fi

# Qt's X11 platform plugin needs these libraries; Xvfb lets napari draw (OpenGL) on a machine
# without a screen: the headless main job and the GUI tests use it.
debs="xvfb libgl1 libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
      libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0 libxcb-shape0 libxcb-xfixes0
      libfontconfig1 libdbus-1-3"
if command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  missing=""
  for p in $debs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "install.sh: installing system packages:$missing"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      echo "install.sh: missing system packages (install them as root):$missing" >&2
    fi
  fi
fi

py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
pip_install() {  # pip's exit status counts; only the noise about missing local index folders is dropped
  .venv/bin/python -m pip --disable-pip-version-check install -q "$@" 2> >(grep -v "is ignored" >&2)
}
# torch first, pinned, so the project's 'torch>=2.1' does not pull a multi-GB CUDA build here
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  pip_install "${TORCH_SPEC:-torch==2.13.0}"
fi
pip_install -e ".[${extras}]"
.venv/bin/python -c "import napari_lowdose, torch, napari; print('install.sh: napari-lowdose', napari_lowdose.__version__, '| napari', napari.__version__, '| torch', torch.__version__)"
