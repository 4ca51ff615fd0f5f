"""Textbook solutions of the package's student regions (see ``course.textbook``)."""

SOLUTIONS = {}
VARIANTS = {}
MUTANTS = {}
