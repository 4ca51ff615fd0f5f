"""course: the instructor's tooling for the cs231n assignment. Never shipped to students.

- ``release``: builds the student release from this (instructor) source.
- ``grade`` and ``grading/``: the autograder and its checks.

It imports from ``cs231n`` (one way); ``cs231n`` never imports from it. Run its commands from the
top of the instructor repository: ``python -m course.release``, ``python -m course.grade``.
"""
