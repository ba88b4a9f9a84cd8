#!/usr/bin/env bash
# Creates benchmarks/abtem/.venv with a pinned abTEM (GPL-3; benchmark-only, never a package
# dependency).  Idempotent: re-running checks the pins and installs only what is missing.
#   bash benchmarks/abtem/setup_venv.sh
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
# abTEM 1.0.11 is the newest release pip resolves here; it runs on CPU with Python 3.11.
PINS=(
  "abtem==1.0.11"
  "ase==3.29.0"
  "numpy==2.4.6"
  "scipy==1.17.1"
  "dask==2026.8.0"
  "numba==0.68.1"
  "llvmlite==0.50.0"
  "pyfftw==0.15.1"
  "zarr==3.1.6"
  "matplotlib==3.11.2"
)
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if "$VENV/bin/python" - "${PINS[@]}" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PYEOF
then
  echo "abTEM venv up to date: $VENV"
else
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi
"$VENV/bin/python" -c "import abtem, ase, numpy; print('abtem', abtem.__version__, 'ase', ase.__version__, 'numpy', numpy.__version__)"
