#!/usr/bin/env bash
# Creates examples/python/.venv and installs requirements.txt into it.
#
# Idempotent: a stamp file records the hash of requirements.txt (and the Python
# version); when it matches, the script exits at once. Run it again after editing
# requirements.txt and it reinstalls.
#
#   bash examples/python/setup.sh
#   examples/python/.venv/bin/python examples/python/failsafe.py
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
requirements="$here/requirements.txt"
stamp="$venv/.faultline-requirements"

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup.sh: $python not found. Install Python 3.10 or newer (Debian: apt-get install python3 python3-venv), or point PYTHON at one." >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "setup.sh: $("$python" --version 2>&1) is too old: the reference services need Python 3.10 or newer." >&2
    exit 1
fi

want="$(cat "$requirements" <("$python" --version 2>&1) | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    exit 0
fi

if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "setup.sh: $python cannot create virtual environments (the venv or ensurepip module is missing). Debian: apt-get install python3-venv" >&2
    exit 1
fi

echo "setup.sh: creating $venv" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --requirement "$requirements"
echo "$want" > "$stamp"
echo "setup.sh: ready: $venv/bin/python" >&2
