#!/usr/bin/env bash
# Fetch CIFAR-10 once: download, verify (size + MD5) and extract it into this folder
# (or into $CS231N_DATA_DIR when set). A thin wrapper around the Python command, which also works
# without bash (e.g. on Windows):  python -m cs231n.download
# Options are passed through; see: bash datasets/get_datasets.sh --help
# Safe to run twice at once (e.g. while run_assignment fetches): the second waits for the first.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${PYTHON:-}" ]; then
    py="$PYTHON"
elif command -v python3 >/dev/null 2>&1; then
    py=python3
else
    py=python
fi
# Make the package importable even when it is not pip-installed; relative paths in the
# options still refer to the folder this script was called from.
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" -m cs231n.download "$@"
