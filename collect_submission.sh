#!/usr/bin/env bash
# Check your assignment and pack it into a2.zip for submission.
#
#   bash collect_submission.sh              # writes a2.zip next to this script
#   bash collect_submission.sh -o name.zip  # another name
#   bash collect_submission.sh --help       # all options (--force, --overwrite, ...)
#
# The work is done by cs231n/submission.py (standard library only; no zip program needed).
# It lists every problem it finds (notebooks not run, error outputs, missing files) and then
# stops without writing anything. It never changes, moves or deletes any of your files.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
        exec "$py" "$here/cs231n/submission.py" --tree "$here" "$@"
    fi
done
echo "error: no python3 (>= 3.8) found on PATH; activate your environment and run again" >&2
exit 127
