"""Textbook solutions of the notebooks' student cells (see ``course.textbook``)."""

SOLUTIONS = {}
