"""The hidden checks (instructor only; the release never contains ``course/``).

One module per part (``q1_hidden.py`` ...), in the format of the public checks
(``cs231n/selfcheck/checks``): ``PART = (key, title)`` and ``CHECKS`` from ``checklist()``.
They run in the grader's process only, with ``ctx.reference`` = the instructor's package: other
shapes and values than the public checks, and the edge cases (pad 0 and 1, stride 1 and 2,
N = 1, odd sizes, ties, several optimizer steps). Visibility "hidden" or "after_due_date".
"""
