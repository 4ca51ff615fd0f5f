"""The student's regions in a released file: find them, read them out, fill them in.

In the instructor source a student region is ``### BEGIN SOLUTION`` ... ``### END SOLUTION``. The
release (``course.release``) turns each one into three lines at the region's indentation::

    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    raise NotImplementedError("TODO: implement affine_forward (cs231n/layers.py)")
    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

The student replaces the ``raise`` line by their code; everything outside the START/END lines is
given code. This module is the one place that knows that layout:

- ``read_regions(text, rel)``: the regions of one file (``.py`` or ``.ipynb``), each with a key,
  its line span and its body (the student's code, dedented).
- ``fill_regions(text, rel, bodies)``: the same file with the bodies of the named regions
  replaced (re-indented to the markers); used to paste the textbook solutions into a release and,
  by the grader, to put a student's regions back into the pristine given files.

Keys. In a ``.py`` file a region is named by the qualified name of the function that holds it
(``affine_forward``, ``FullyConnectedNet.loss``); the second, third, ... region of the same
function get ``#2``, ``#3`` (``FullyConnectedNet.loss#2``). A file that does not parse (a
student's syntax error) names its regions by position instead (``@1``, ``@2``, ...); callers that
compare with the pristine release match regions by position then. In a notebook the k-th region
in cell order is ``cell#k`` (k from 1).
"""

import ast
import json
import textwrap
from dataclasses import dataclass

STUDENT_BEGIN = "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
STUDENT_END = "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"


class RegionError(ValueError):
    """The START/END lines of a file are damaged (unpaired, nested) or a key is unknown."""


@dataclass
class Region:
    key: str
    first: int  # 0-based index of the START line (in the file, or in the cell for notebooks)
    last: int  # 0-based index of the END line
    indent: str
    body: str  # the lines between the markers, dedented, with a final newline when not empty
    cell: int | None = None  # notebook cell index (0-based); None in .py files


def _indent(line):
    return line[: len(line) - len(line.lstrip(" \t"))]


def _spans(lines, where):
    """(first, last) index pairs of the START/END lines in ``lines``; RegionError if unpaired."""
    spans, open_at = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == STUDENT_BEGIN:
            if open_at is not None:
                raise RegionError(f"{where}:{i + 1}: START OF YOUR CODE line inside the region "
                                  f"opened at line {open_at + 1}; was an END line deleted?")
            open_at = i
        elif text == STUDENT_END:
            if open_at is None:
                raise RegionError(f"{where}:{i + 1}: END OF YOUR CODE line without its START line")
            spans.append((open_at, i))
            open_at = None
    if open_at is not None:
        raise RegionError(f"{where}:{open_at + 1}: START OF YOUR CODE line without its END line")
    return spans


def _body(lines, first, last):
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines[first + 1:last])
    return textwrap.dedent(text)


def enclosing_functions(source, rel):
    """Map line number (1-based) -> qualified name of the innermost function whose body holds it.

    A function's body starts on the line after its header (so a region may be the first thing
    in the body, before any statement or docstring) and ends at its last line.
    """
    tree = ast.parse(source, filename=rel)
    spans = []

    def header_end(func):
        # the last line of the signature: the line of the colon before the first statement
        last = func.lineno
        for node in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs,
                     func.args.vararg, func.args.kwarg, func.returns,
                     *func.args.defaults, *(d for d in func.args.kw_defaults if d is not None)):
            if node is not None:
                last = max(last, node.end_lineno)
        return min(last, func.body[0].lineno - 1) if func.body[0].lineno > func.lineno else last

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                spans.append((header_end(child) + 1, child.end_lineno, name))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")

    def lookup(lineno):
        inside = [s for s in spans if s[0] <= lineno <= s[1]]
        return max(inside, key=lambda s: s[0])[2] if inside else None

    return lookup


def _function_names(text, rel):
    """``enclosing_functions``, or None if the file does not parse (a student's syntax error)."""
    try:
        return enclosing_functions(text, rel)
    except SyntaxError:
        return None


def _python_regions(text, rel):
    lines = text.splitlines(keepends=True)
    spans = _spans(lines, rel)
    lookup = _function_names(text, rel)
    regions, seen = [], {}
    for k, (first, last) in enumerate(spans, start=1):
        if lookup is None:
            key = f"@{k}"
        else:
            name = lookup(first + 1) or "<module>"
            seen[name] = seen.get(name, 0) + 1
            key = name if seen[name] == 1 else f"{name}#{seen[name]}"
        regions.append(Region(key, first, last, _indent(lines[first]), _body(lines, first, last)))
    return regions


def _cell_lines(cell):
    source = cell.get("source", "")
    return ("".join(source) if isinstance(source, list) else str(source)).splitlines(keepends=True)


def _notebook_regions(nb, rel):
    regions = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        lines = _cell_lines(cell)
        for first, last in _spans(lines, f"{rel}: cell {index + 1}, line"):
            regions.append(Region(f"cell#{len(regions) + 1}", first, last, _indent(lines[first]),
                                  _body(lines, first, last), cell=index))
    return regions


def _load_notebook(text, rel):
    try:
        nb = json.loads(text)
    except ValueError as exc:
        raise RegionError(f"{rel}: not a valid notebook ({exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise RegionError(f"{rel}: not a valid notebook (no list of cells)")
    return nb


def read_regions(text, rel):
    """The student regions of file ``rel`` (its text), in order, as ``Region`` objects."""
    if rel.endswith(".ipynb"):
        return _notebook_regions(_load_notebook(text, rel), rel)
    return _python_regions(text, rel)


def _replace(lines, spans_bodies):
    """``lines`` with the lines between each (first, last) span replaced by indented body text."""
    out, pos = [], 0
    for (first, last, indent), body in spans_bodies:
        out.extend(lines[pos:first + 1])
        ending = lines[first][len(lines[first].rstrip("\r\n")):] or "\n"
        for line in body.splitlines():
            out.append((indent + line if line.strip() else "") + ending)
        pos = last
    out.extend(lines[pos:])
    return out


def fill_regions(text, rel, bodies, strict=True):
    """Return the text of ``rel`` with each region named in ``bodies`` (key -> code) filled in.

    Code is dedented, then indented to the region's markers. With ``strict``, a key of
    ``bodies`` that names no region raises RegionError (a region without a body keeps its own).
    """
    regions = read_regions(text, rel)
    known = {r.key for r in regions}
    unknown = sorted(set(bodies) - known)
    if strict and unknown:
        raise RegionError(f"{rel}: no region named {', '.join(unknown)} (regions: {', '.join(sorted(known))})")
    chosen = [r for r in regions if r.key in bodies]
    if rel.endswith(".ipynb"):
        nb = _load_notebook(text, rel)
        for index in sorted({r.cell for r in chosen}):
            cell = nb["cells"][index]
            lines = _cell_lines(cell)
            mine = [r for r in chosen if r.cell == index]
            lines = _replace(lines, [((r.first, r.last, r.indent), textwrap.dedent(bodies[r.key])) for r in mine])
            cell["source"] = lines
        return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    lines = text.splitlines(keepends=True)
    return "".join(_replace(lines, [((r.first, r.last, r.indent), textwrap.dedent(bodies[r.key])) for r in chosen]))
