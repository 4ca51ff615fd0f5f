"""The student's self-check: run the public checks against your own ``cs231n`` package.

    python -m cs231n.selfcheck              # the package in the current folder (or above)
    python -m cs231n.selfcheck --part Q2 -v
    python -m cs231n.grade                  # the same

Your code runs in a separate Python process with a time limit per check (an infinite loop is
reported, not waited for); this process compares what it returns with values worked out by hand
and with numerical gradients of your own forward passes. The public checks are a subset of what
the course grader runs: passing them all is a good sign, not a guarantee of full marks.

Layout: ``_protocol`` (the bounded message format), ``_child`` (the script that runs your code),
``remote`` (calls into it), ``engine`` (runs checks, decides verdicts), ``support`` (check helpers),
``checks/`` (the public checks, one module per part).
"""

from pathlib import Path

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
