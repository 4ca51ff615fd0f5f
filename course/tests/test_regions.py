"""Tests of course/regions.py: reading and filling the student's regions of a released file."""

import json

import pytest

from course import edition
from course.regions import STUDENT_BEGIN, STUDENT_END, RegionError, fill_regions, read_regions

SOURCE = '''\
def f(x):
    """Doc."""
    out = None
    ### BEGIN SOLUTION
    out = 2 * x
    ### END SOLUTION
    return out


class Model:
    def loss(self, x):
        a = None
        ### BEGIN SOLUTION
        a = x + 1
        ### END SOLUTION
        b = None
        ### BEGIN SOLUTION
        b = a * 3
        ### END SOLUTION
        return b
'''


def released():
    text, n = edition.release_python(SOURCE, "cs231n/m.py")
    assert n == 3
    return text


def run(text, name, *args):
    scope = {}
    exec(compile(text, "m.py", "exec"), scope)
    return eval(name, scope)(*args)


def test_release_puts_the_stub_between_the_student_markers():
    lines = released().splitlines()
    i = lines.index("    " + STUDENT_BEGIN)
    assert lines[i + 1] == '    raise NotImplementedError("TODO: implement f (cs231n/m.py)")'
    assert lines[i + 2] == "    " + STUDENT_END
    assert "out = 2 * x" not in released()


def test_read_regions_names_them_by_function_and_ordinal():
    regions = read_regions(released(), "cs231n/m.py")
    assert [r.key for r in regions] == ["f", "Model.loss", "Model.loss#2"]
    assert regions[0].body == 'raise NotImplementedError("TODO: implement f (cs231n/m.py)")\n'
    assert regions[1].indent == " " * 8


def test_fill_regions_pastes_code_at_the_markers_indentation():
    text = fill_regions(released(), "cs231n/m.py", {
        "f": "out = 2 * x\n", "Model.loss": "a = x + 1", "Model.loss#2": "    b = a * 3\n"})
    assert run(text, "f", 5) == 10
    assert run(text, "lambda x: Model().loss(x)", 1) == 6
    # reading the filled file back gives the pasted bodies, markers kept
    assert [r.body for r in read_regions(text, "cs231n/m.py")] == ["out = 2 * x\n", "a = x + 1\n", "b = a * 3\n"]


def test_fill_regions_leaves_regions_without_a_body_and_refuses_unknown_keys():
    text = fill_regions(released(), "cs231n/m.py", {"f": "out = -x"})
    assert run(text, "f", 2) == -2
    with pytest.raises(NotImplementedError, match="Model.loss"):
        run(text, "lambda x: Model().loss(x)", 1)
    with pytest.raises(RegionError, match="no region named g"):
        fill_regions(released(), "cs231n/m.py", {"g": "pass"})


def test_a_file_that_does_not_parse_names_regions_by_position():
    broken = released().replace("def f(x):", "def f(x)")
    assert [r.key for r in read_regions(broken, "cs231n/m.py")] == ["@1", "@2", "@3"]


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.replace("    " + STUDENT_END + "\n", "", 1), "inside the region"),
    (lambda t: t.replace("    " + STUDENT_BEGIN + "\n", "", 1), "without its START"),
    (lambda t: t.replace("        " + STUDENT_END + "\n        return b", "        return b"), "without its END"),
])
def test_damaged_markers_are_reported_with_the_line(damage, message):
    with pytest.raises(RegionError, match=message):
        read_regions(damage(released()), "cs231n/m.py")


def test_notebook_regions_are_numbered_in_cell_order():
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["text"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["x = 1\n", f"{edition.SOLUTION_BEGIN}\n", "y = 2\n", f"{edition.SOLUTION_END}\n"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["for i in range(2):\n", f"    {edition.SOLUTION_BEGIN}\n", "    z = i\n",
                    f"    {edition.SOLUTION_END}\n", "print(z)"]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    text, n, _ = edition.release_notebook(json.dumps(nb), "notebooks/A.ipynb")
    assert n == 2
    regions = read_regions(text, "notebooks/A.ipynb")
    assert [(r.key, r.cell) for r in regions] == [("cell#1", 1), ("cell#2", 2)]
    filled = json.loads(fill_regions(text, "notebooks/A.ipynb", {"cell#2": "z = i * 10\n"}))
    assert "".join(filled["cells"][2]["source"]) == (
        f"for i in range(2):\n    {STUDENT_BEGIN}\n    z = i * 10\n    {STUDENT_END}\nprint(z)")
    assert filled["cells"][1]["source"] == json.loads(text)["cells"][1]["source"]
