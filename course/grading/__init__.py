"""The autograder's checks, one module per part of the assignment (run by ``course.grade``).

Each part module (``q1_fully_connected``, ...) lists its checks in ``CHECKS``; a check is a
function that imports the student's modules (``student("layers")``), computes, and raises
AssertionError with an explanation when a value is wrong. Checks are independent of the
instructor's tests and of the solutions: they compare against values worked out by hand and
against centred-difference numerical gradients (``_support``).

This package imports nothing from ``cs231n``: the grader loads it by file path in a separate
process whose ``cs231n`` is the student's tree (see ``_runner``).
"""

# (key, title, module) of every part, in order.
PARTS = (
    ("Q1", "Fully-connected networks", "q1_fully_connected"),
    ("Q2", "Batch normalization", "q2_batch_normalization"),
    ("Q3", "Dropout", "q3_dropout"),
    ("Q4", "Convolutional networks", "q4_convolutional_networks"),
)
