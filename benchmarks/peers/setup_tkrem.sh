#!/usr/bin/env bash
# Make benchmarks/peers/.venv-tkrem: TensorFlow 2.12 (CPU) + tk-r-em 1.0.4, for the peer benchmark only.
# tk-r-em and TensorFlow are never dependencies of napari-lowdose; nothing here touches the project venv.
# Idempotent: an existing venv that already imports tk_r_em with the pinned versions is left as it is.
# Usage: bash benchmarks/peers/setup_tkrem.sh   (PYTHON=python3.10 to choose the interpreter; TF 2.12 needs 3.8-3.11)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-tkrem"
py="${PYTHON:-python3}"

check() {
    "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as md
assert md.version("tensorflow-cpu") == "2.12.1", md.version("tensorflow-cpu")
assert md.version("tk-r-em") == "1.0.4", md.version("tk-r-em")
import tk_r_em  # noqa: F401  (imports tensorflow, h5py, numpy)
PY
}

if [ -x "$venv/bin/python" ] && check; then
    echo "tk-r-em venv ready: $venv"
    exit 0
fi

"$py" -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 8) <= v <= (3, 11) else "TensorFlow 2.12 needs Python 3.8-3.11; set PYTHON=python3.11 (got %d.%d)" % v)'
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade "pip<25"
# TensorFlow 2.12.1 brings numpy (<=1.24.3), h5py, keras 2.12, protobuf...;
# constraints-tkrem.txt pins every package of the venv as first built (jax, ml_dtypes, protobuf...).
"$venv/bin/python" -m pip install --quiet -c "$here/constraints-tkrem.txt" "tensorflow-cpu==2.12.1"
# tk-r-em declares numpy, h5py, matplotlib; its library module needs only numpy, h5py and tensorflow
# (matplotlib is used by its test script alone), so install it without dependencies.
"$venv/bin/python" -m pip install --quiet --no-deps "tk-r-em==1.0.4"
check || { echo "setup_tkrem.sh: the venv was built but tk_r_em does not import" >&2; exit 1; }
echo "tk-r-em venv ready: $venv"
