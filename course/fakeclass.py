"""Generated student submissions, for the batch grader's tests and benchmark (instructor-only).

A submission is what ``python -m cs231n.submission`` packs (``cs231n/`` and ``notebooks/``), in the
release's format (START/END OF YOUR CODE lines), with the instructor's answers in the regions and
the instructor notebooks' outputs (run notebooks). ``stub`` lists regions put back to the release
stub (``raise NotImplementedError``), ``replace`` gives other bodies ({(path, index): code}, index
0-based in file order): a "single-region mutation" is one of either.

When ``course.textbook.package`` has the textbook SOLUTIONS and MUTANTS (branch ``contract``), the
benchmark can use them instead (``course.textbook.paste``); this module needs only the instructor
tree, so it works before they exist.
"""

import io
import random
import zipfile
from pathlib import Path

from .regions import STUDENT_BEGIN, STUDENT_END

REPO = Path(__file__).resolve().parents[1]
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = 'raise NotImplementedError("TODO: implement this region")'
PREPEND = "#prepend\n"  # a ``replace`` body starting with this line is put before the answer


def student_files(repo=REPO):
    """``{rel: text}`` of the files a student submits, from the instructor tree."""
    repo = Path(repo)
    files = {}
    for path in sorted((repo / "cs231n").rglob("*.py")):
        if "__pycache__" not in path.parts:
            files[path.relative_to(repo).as_posix()] = path.read_text(encoding="utf-8")
    for path in sorted((repo / "notebooks").glob("*.ipynb")):
        files[path.relative_to(repo).as_posix()] = path.read_text(encoding="utf-8")
    return files


def regions(files):
    """``[(rel, index)]`` of every solution region (file order; index counts from 0 per file)."""
    out = []
    for rel, text in files.items():
        n = sum(1 for line in _lines(text, rel) if line.strip() == SOLUTION_BEGIN)
        out += [(rel, i) for i in range(n)]
    return out


def _lines(text, rel):
    if rel.endswith(".ipynb"):
        import json
        return [l for c in json.loads(text)["cells"] for l in "".join(c["source"]).splitlines()]
    return text.splitlines()


def _convert_source(lines, start_index, stub, replace, rel):
    """Convert the marker lines of ``lines`` (keepends), return (new lines, regions seen)."""
    out, k, inside, indent = [], start_index, False, ""
    for line in lines:
        text = line.strip()
        if text == SOLUTION_BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}{STUDENT_BEGIN}\n")
            inside, current = True, k
            k += 1
            if (rel, current) in stub or (rel, current) in replace:
                body = STUB if (rel, current) in stub else replace[(rel, current)]
                skip = not body.startswith(PREPEND)  # PREPEND + code: code goes before the answer
                body = body.removeprefix(PREPEND)
                out += [f"{indent}{b}\n" if b.strip() else "\n" for b in body.splitlines()]
            else:
                skip = False
        elif text == SOLUTION_END:
            out.append(f"{indent}{STUDENT_END}" + ("\n" if line.endswith("\n") else ""))
            inside = False
        elif not (inside and skip):
            out.append(line)
    return out, k


def convert(text, rel, stub=(), replace=None):
    """The instructor file in release format, regions filled (or stubbed/replaced)."""
    stub, replace = set(stub), dict(replace or {})
    if rel.endswith(".ipynb"):
        import json
        nb = json.loads(text)
        k = 0
        for cell in nb["cells"]:
            if cell.get("cell_type") == "markdown":  # the answer replaces the placeholder, no markers
                cell["source"] = [l for l in "".join(cell["source"]).splitlines(keepends=True)
                                  if l.strip() not in ("<!-- BEGIN ANSWER -->", "<!-- END ANSWER -->")]
            if cell.get("cell_type") != "code":
                continue
            src = "".join(cell["source"]).splitlines(keepends=True)
            new, k = _convert_source(src, k, stub, replace, rel)
            cell["source"] = new
        return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    new, _ = _convert_source(text.splitlines(keepends=True), 0, stub, replace, rel)
    return "".join(new)


def submission_files(stub=(), replace=None, files=None):
    files = files if files is not None else student_files()
    return {rel: convert(text, rel, stub, replace) for rel, text in files.items()}


def write_zip(path, files, top="a2"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, text in sorted(files.items()):
            zf.writestr(f"{top}/{rel}" if top else rel, text)
    Path(path).write_bytes(buf.getvalue())


def write_folder(path, files):
    for rel, text in files.items():
        target = Path(path) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def make_class(out_dir, n, seed=0, package_only_mutations=True):
    """Write ``n`` zips ``student000.zip`` ... into ``out_dir``: the instructor's answers with one
    random region stubbed (every fifth submission left complete). Returns {id: mutated region}."""
    rng = random.Random(seed)
    files = student_files()
    all_regions = [r for r in regions(files) if not package_only_mutations or r[0].endswith(".py")]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = {}
    for i in range(n):
        sid = f"student{i:03d}"
        mutated = None if i % 5 == 0 else rng.choice(all_regions)
        write_zip(out_dir / f"{sid}.zip", submission_files(stub=[mutated] if mutated else [], files=files))
        plan[sid] = mutated
    return plan


def region_of(files, rel, function):
    """``(rel, index)`` of the first solution region inside ``def function(`` in file ``rel``."""
    current, k = None, 0
    for line in files[rel].splitlines():
        stripped = line.strip()
        if stripped.startswith(("def ", "async def ")):
            current = stripped.split("def ", 1)[1].split("(", 1)[0]
        elif stripped == SOLUTION_BEGIN:
            if current == function:
                return rel, k
            k += 1
    raise KeyError(f"no solution region in {function} ({rel})")
