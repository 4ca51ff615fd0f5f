#!/usr/bin/env bash
# Check your assignment and pack it into a2.zip for submission.
#
#   bash collect_submission.sh              # writes a2.zip next to this script
#   bash collect_submission.sh -o name.zip  # another name
#   bash collect_submission.sh --help       # all options (--force, --overwrite, ...)
#
# The work is done by cs231n/submission.py (standard library only; no zip program needed).
# Missing files and never-run notebooks stop it without writing anything; errors in cells, blank
# inline answers and cells that never ran are listed as warnings after the zip is written.
# It never changes, moves or deletes any of your files. Python runs isolated (-I: nothing from
# your folder is imported, not even a broken cs231n package) and writes no bytecode (-B).
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
        exec "$py" -I -B "$here/cs231n/submission.py" --tree "$here" "$@"
    fi
done
echo "error: no python3 (>= 3.8) found on PATH; activate your environment and run again" >&2
exit 127
