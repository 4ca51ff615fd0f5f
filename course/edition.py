"""The student edition of one file: the markers and the rules that turn a ``.py`` file, a notebook
or any other text file of the instructor source into its release version.

``course.release`` documents the rules and applies them to a whole source tree (which files ship,
the manifest, the zip); this module knows only single files. ``release_python``,
``release_notebook`` and ``release_text`` return the student version of a file's text and raise
``ReleaseError`` listing every marker error (``file:line: message``); ``scan_markers`` and
``find_regions`` are the checks they share.
"""

import json
import re

from .regions import STUDENT_BEGIN, STUDENT_END, enclosing_functions

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
ANSWER_BEGIN = "<!-- BEGIN ANSWER -->"
ANSWER_END = "<!-- END ANSWER -->"
ANSWER_PLACEHOLDER = "*Your answer:* _fill this in_"
CELL_STUB_MESSAGE = "TODO: write the code of this cell"
INSTRUCTOR_BEGIN = "### BEGIN INSTRUCTOR"
INSTRUCTOR_END = "### END INSTRUCTOR"
MD_INSTRUCTOR_BEGIN = "<!-- BEGIN INSTRUCTOR -->"
MD_INSTRUCTOR_END = "<!-- END INSTRUCTOR -->"
MD_STUDENT_BEGIN = "<!-- BEGIN STUDENT"
MD_STUDENT_END = "END STUDENT -->"
INSTRUCTOR_TAG = "instructor"
STUDENT_TAG = "student"
EDITION_TAGS = (INSTRUCTOR_TAG, STUDENT_TAG)

# A line that looks like a marker: BEGIN/END, then SOLUTION, ANSWER, INSTRUCTOR or STUDENT (any
# case, separators " ", "_" or "-", a plural "S"), after a comment opener or at the start of the
# line. Every such line must be exactly one of the valid markers of its place, else it is an error.
_MARKER_WORDS = r"(BEGIN|END)[\s_-]*(SOLUTION|ANSWER|INSTRUCTOR|STUDENT)S?\b"
_LOOKALIKE = re.compile(r"^\s*(#+|//+|<!--|%+|;+|--|\*|\"\"\"|\'\'\')?\s*" + _MARKER_WORDS
                        + r"|<!--\s*" + _MARKER_WORDS + r"|" + _MARKER_WORDS + r"\s*-->", re.IGNORECASE)
_NBVAL_COMMENT = re.compile(r"^\s*#\s*NBVAL_[A-Z_]+\s*$")


class ReleaseError(Exception):
    """Marker errors in the source; ``errors`` lists them as ``file:line: message``."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


# ---------------------------------------------------------------------------------------------
# Regions
# ---------------------------------------------------------------------------------------------

def _indent(line):
    return line[: len(line) - len(line.lstrip(" \t"))]


def find_regions(lines, begin, end, where, lookalike=None):
    """Locate the regions ``begin ... end`` in ``lines`` (strings, line endings allowed).

    Returns ``(regions, errors)``: regions as ``(first, last)`` 0-based indices of the marker
    lines, errors as ``"<where>:<line>: message"``. ``lookalike`` (a compiled regex) flags lines
    that resemble a marker without being exactly one.
    """
    regions, errors = [], []
    open_at = None
    for i, line in enumerate(lines):
        text = line.strip()
        loc = f"{where}:{i + 1}"
        if text == begin:
            if open_at is not None:
                errors.append(f"{loc}: {begin!r} inside the region opened at line {open_at + 1} (nesting)")
            open_at = i
        elif text == end:
            if open_at is None:
                errors.append(f"{loc}: {end!r} without a matching {begin!r}")
                continue
            if _indent(line) != _indent(lines[open_at]):
                errors.append(f"{loc}: {end!r} indented differently from its {begin!r} at line {open_at + 1}")
            for j in range(open_at + 1, i):
                body = lines[j]
                if body.strip() and not body.startswith(_indent(lines[open_at])):
                    errors.append(f"{where}:{j + 1}: line less indented than the region's markers "
                                  f"(line {open_at + 1})")
                    break
            regions.append((open_at, i))
            open_at = None
        elif lookalike is not None and lookalike.search(line):
            errors.append(f"{loc}: looks like a marker but is not exactly {begin!r} or {end!r}: {text!r}")
    if open_at is not None:
        errors.append(f"{where}:{open_at + 1}: {begin!r} without a matching {end!r}")
    return regions, errors


def replace_regions(lines, regions, stub, student_markers=False):
    """Return ``lines`` with each region replaced by ``stub(indent, first)`` (plus the line end).

    With ``student_markers`` the stub stands between the START/END OF YOUR CODE lines that
    ``course.regions`` reads (the student writes there; everything else is given code).
    """
    out, pos = [], 0
    for first, last in regions:
        out.extend(lines[pos:first])
        marker = lines[first]
        ending = marker[len(marker.rstrip("\r\n")):] or "\n"
        body = [stub(_indent(marker), first)]
        if student_markers:
            body = [STUDENT_BEGIN, *body, STUDENT_END]
        out.extend(_indent(marker) + line + ending for line in body)
        pos = last + 1
    out.extend(lines[pos:])
    return out


# Which markers each place may hold: {kind: (begin, end)}; kinds are handled in _apply.
PY_MARKERS = {"solution": (SOLUTION_BEGIN, SOLUTION_END), "instructor": (INSTRUCTOR_BEGIN, INSTRUCTOR_END)}
CODE_CELL_MARKERS = PY_MARKERS
MARKDOWN_MARKERS = {"answer": (ANSWER_BEGIN, ANSWER_END),
                    "instructor": (MD_INSTRUCTOR_BEGIN, MD_INSTRUCTOR_END),
                    "student": (MD_STUDENT_BEGIN, MD_STUDENT_END)}
_MARKER_NAMES = {SOLUTION_BEGIN: "solution", SOLUTION_END: "solution", ANSWER_BEGIN: "answer",
                 ANSWER_END: "answer", INSTRUCTOR_BEGIN: "instructor", INSTRUCTOR_END: "instructor",
                 MD_INSTRUCTOR_BEGIN: "instructor", MD_INSTRUCTOR_END: "instructor",
                 MD_STUDENT_BEGIN: "student", MD_STUDENT_END: "student"}
_HINTS = {("solution", "a markdown cell"): f" (use {ANSWER_BEGIN!r})",
          ("instructor", "a markdown cell"): f" (use {MD_INSTRUCTOR_BEGIN!r})",
          ("instructor", "a code cell"): f" (use {INSTRUCTOR_BEGIN!r})",
          ("instructor", "a .py file"): f" (use {INSTRUCTOR_BEGIN!r})"}


def scan_markers(lines, allowed, where, place):
    """Find the regions of every kind in ``allowed`` ({kind: (begin, end)}) in ``lines``.

    Returns ``({kind: [(first, last), ...]}, errors)``. A line holding a valid marker of another
    place, or anything that looks like a marker without being exactly an allowed one, is an
    error; so are regions of different kinds that overlap.
    """
    valid = {m for pair in allowed.values() for m in pair}
    errors = []
    for i, line in enumerate(lines):
        text = line.strip()
        if text in valid:
            continue
        if text in _MARKER_NAMES:
            kind = _MARKER_NAMES[text]
            errors.append(f"{where}:{i + 1}: {kind} marker in {place}{_HINTS.get((kind, place), '')}")
        elif _LOOKALIKE.search(line):
            choices = " or ".join(repr(m) for m in sorted(valid)) or "nothing (no markers allowed here)"
            errors.append(f"{where}:{i + 1}: looks like a marker but is not exactly {choices}: {text!r}")
    found = {}
    for kind, (begin, end) in allowed.items():
        regions, errs = find_regions(lines, begin, end, where)
        found[kind] = regions
        errors += errs
    spans = sorted((first, last, kind) for kind, regions in found.items() for first, last in regions)
    for (f1, l1, k1), (f2, _, k2) in zip(spans, spans[1:]):
        if f2 <= l1:
            errors.append(f"{where}:{f2 + 1}: {k2} region inside the {k1} region opened at line {f1 + 1}")
    if any(kind == "student" for kind in found):
        for first, last in found["student"]:
            errors += [f"{where}:{j + 1}: '-->' inside a student region (it would end the comment)"
                       for j in range(first + 1, last) if "-->" in lines[j]]
    return found, errors


def _drop_lines(lines, regions, keep_inside=False):
    """``lines`` without each region (markers included); with ``keep_inside`` only the two
    marker lines go (the region's content stays, dedented to nothing: markdown)."""
    drop = set()
    for first, last in regions:
        drop.update((first, last) if keep_inside else range(first, last + 1))
    return [line for i, line in enumerate(lines) if i not in drop]


def _solution_stub(rel, names):
    return lambda indent, first: f'raise NotImplementedError("TODO: implement {names[first]} ({rel})")'


def release_python(text, rel):
    """Release one ``.py`` file. Returns ``(new_text, n_regions)``; raises ReleaseError."""
    lines = text.splitlines(keepends=True)
    found, errors = scan_markers(lines, PY_MARKERS, rel, "a .py file")
    if errors:
        raise ReleaseError(errors)
    regions = found["solution"]
    if not regions and not found["instructor"]:
        return text, 0
    try:
        lookup = enclosing_functions(text, rel)
    except SyntaxError as exc:
        raise ReleaseError([f"{rel}:{exc.lineno}: the source is not valid Python: {exc.msg}"]) from None
    names = {}
    for first, _ in regions:
        name = lookup(first + 1)
        if name is None:
            errors.append(f"{rel}:{first + 1}: solution region outside a function body "
                          "(the released module would not import)")
        names[first] = name
    if errors:
        raise ReleaseError(errors)
    stubbed = replace_regions(lines, regions, _solution_stub(rel, names), student_markers=True)
    new = "".join(_drop_lines(stubbed, _reindex(stubbed, INSTRUCTOR_BEGIN, INSTRUCTOR_END)))
    try:
        compile(new, rel, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ReleaseError([f"{rel}:{exc.lineno}: the released file is not valid Python "
                            f"({exc.msg}); check the regions' placement"]) from None
    return new, len(regions)


def release_text(text, rel):
    """Check a text file the release copies as it is: no line may look like a marker."""
    errors = [f"{rel}:{i + 1}: looks like a marker, but the release processes markers only in .py "
              f"files and notebooks: {line.strip()!r}"
              for i, line in enumerate(text.splitlines()) if _LOOKALIKE.search(line)]
    if errors:
        raise ReleaseError(errors)
    return text


def _cell_lines(cell):
    source = cell.get("source", "")
    return ("".join(source) if isinstance(source, list) else source).splitlines(keepends=True)


def _cell_tags(cell, where, errors):
    metadata = cell.get("metadata")
    tags = metadata.get("tags", []) if isinstance(metadata, dict) else []
    if not isinstance(tags, list):
        errors.append(f"{where}: cell metadata 'tags' is not a list")
        return set()
    mine = {t for t in tags if isinstance(t, str) and t.lower() in EDITION_TAGS}
    odd = [t for t in tags if isinstance(t, str) and t.lower() in EDITION_TAGS and t not in EDITION_TAGS]
    errors += [f"{where}: cell tag {t!r}: write it in lower case" for t in odd]
    if INSTRUCTOR_TAG in mine and STUDENT_TAG in mine:
        errors.append(f"{where}: a cell cannot be tagged both {INSTRUCTOR_TAG!r} and {STUDENT_TAG!r}")
    return mine


def release_notebook(text, rel):
    """Release one notebook (JSON text). Returns ``(new_text, n_regions, n_answers)``.

    Cells tagged ``instructor`` are left out, the tag ``student`` is removed (the cell stays);
    instructor-only regions are removed, student-only markdown regions unwrapped, solution
    regions stubbed, answers blanked, nbval comment lines (``# NBVAL_CHECK_OUTPUT``) removed,
    outputs and execution counts cleared.
    """
    try:
        nb = json.loads(text)
        cells = nb["cells"]
        if not isinstance(cells, list):
            raise TypeError("'cells' is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise ReleaseError([f"{rel}: not a valid notebook ({exc})"]) from None
    errors, n_regions, n_answers, kept = [], 0, 0, []
    for index, cell in enumerate(cells, start=1):
        where = f"{rel}: cell {index}, line"
        tag_errors = []
        tags = _cell_tags(cell, f"{rel}: cell {index}", tag_errors)
        errors += tag_errors
        lines = _cell_lines(cell)
        kind = cell.get("cell_type")
        if kind == "code":
            found, errs = scan_markers(lines, CODE_CELL_MARKERS, where, "a code cell")
            if not errs:
                lines = replace_regions(lines, found["solution"],
                                        lambda indent, first: f'raise NotImplementedError("{CELL_STUB_MESSAGE}")',
                                        student_markers=True)
                lines = _drop_lines(lines, _reindex(lines, INSTRUCTOR_BEGIN, INSTRUCTOR_END))
                lines = [line for line in lines if not _NBVAL_COMMENT.match(line)]
                if found["instructor"]:
                    lines = _squeeze_blank_lines(lines)
                n_regions += len(found["solution"])
            cell["outputs"] = []
            cell["execution_count"] = None
        elif kind == "markdown":
            found, errs = scan_markers(lines, MARKDOWN_MARKERS, where, "a markdown cell")
            if not errs:
                n_answers += len(found["answer"])
                lines = replace_regions(lines, found["answer"], lambda indent, first: ANSWER_PLACEHOLDER)
                lines = _drop_lines(lines, _reindex(lines, MD_INSTRUCTOR_BEGIN, MD_INSTRUCTOR_END))
                lines = _drop_lines(lines, _reindex(lines, MD_STUDENT_BEGIN, MD_STUDENT_END), keep_inside=True)
                if found["instructor"] or found["student"]:
                    lines = _squeeze_blank_lines(lines)
        else:
            errs = [f"{where}:{i + 1}: marker in a {kind} cell" for i, line in enumerate(lines)
                    if _LOOKALIKE.search(line) or line.strip() in _MARKER_NAMES]
        errors.extend(errs)
        if INSTRUCTOR_TAG in tags:
            continue
        cell["source"] = lines
        if isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop("execution", None)
            if "tags" in cell["metadata"]:
                rest = [t for t in cell["metadata"]["tags"] if t not in EDITION_TAGS]
                if rest:
                    cell["metadata"]["tags"] = rest
                else:
                    del cell["metadata"]["tags"]
        if kind == "markdown" and not "".join(lines).strip():
            continue  # everything in it was instructor-only
        kept.append(cell)
    if errors:
        raise ReleaseError(errors)
    nb["cells"] = kept
    if isinstance(nb.get("metadata"), dict):
        nb["metadata"].pop("widgets", None)
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", n_regions, n_answers


def _reindex(lines, begin, end):
    """The (first, last) regions of ``begin ... end`` in lines already checked by scan_markers."""
    regions, _ = find_regions(lines, begin, end, "")
    return regions


def _squeeze_blank_lines(lines):
    """Collapse the runs of blank lines left where regions were removed; drop leading and
    trailing blank lines (the cell's last line then has no newline, as notebooks store it)."""
    out = []
    for line in lines:
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    if out:
        out[-1] = out[-1].rstrip("\r\n")
    return out
