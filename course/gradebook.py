"""The files of a graded class: ``gradebook.csv``, ``columns.csv``, ``results.json`` and one
feedback page per student (``course.batch`` grades; this module writes what it found).

A row is one student's result as ``course.batch`` builds it (``student``, ``status``, ``checks``,
``notebook_items``, ``problems``, ...); ``summarize`` adds its totals and flags,
``write_outputs`` writes every file from the summarized rows. Student-controlled text is escaped
in the HTML and kept from being read as a formula in the CSV.
"""

import csv
import html
import json
from pathlib import Path

FIXED_COLUMNS = ["student", "status", "total", "possible", "percent", "autograder", "notebooks",
                 "flags", "problems"]


def _num(x):
    return f"{x:g}"


def summarize(row):
    """Add totals and flags to a row."""
    auto = sum(c["earned"] for c in row["checks"])
    auto_max = sum(c["points"] for c in row["checks"])
    nb = sum(i["earned"] for i in row["notebook_items"])
    nb_max = sum(i["points"] for i in row["notebook_items"] if i["graded"])
    row["autograder"], row["notebooks"] = auto, nb
    row["total"], row["possible"] = auto + nb, auto_max + nb_max
    row["flags"] = [i["id"] for i in row["notebook_items"] if not i["ok"] and not i["graded"]]
    return row


def columns_of(rows):
    """Check and graded-item columns, in first-seen order: ``[(id, title, points, visibility)]``."""
    cols = {}
    for row in rows:
        for c in row["checks"]:
            cols.setdefault(c["id"], (c["id"], c["title"], c["points"], c.get("visibility", "visible")))
        for i in row["notebook_items"]:
            if i["graded"]:
                cols.setdefault("nb." + i["id"], ("nb." + i["id"], i["title"], i["points"], "visible"))
    return list(cols.values())


def write_outputs(out_dir, rows, hide_hidden=False):
    out_dir = Path(out_dir)
    cols = columns_of(rows)
    possible = max((r["possible"] for r in rows), default=0) or sum(c[2] for c in cols)
    with open(out_dir / "gradebook.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(FIXED_COLUMNS + [c[0] for c in cols])
        for r in rows:
            earned = {c["id"]: c["earned"] for c in r["checks"]}
            earned.update({"nb." + i["id"]: i["earned"] for i in r["notebook_items"] if i["graded"]})
            pct = 100.0 * r["total"] / possible if possible else 0.0
            w.writerow([_csv_safe(r["student"]), r["status"], _num(r["total"]), _num(possible), f"{pct:.1f}",
                        _num(r["autograder"]), _num(r["notebooks"]), " ".join(r["flags"]),
                        _csv_safe("; ".join(r["problems"] + r.get("notes", [])))]
                       + [_num(earned.get(c[0], 0)) for c in cols])
    with open(out_dir / "columns.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["column", "title", "points", "visibility"])
        for c in cols:
            w.writerow([c[0], c[1], _num(c[2]), c[3]])
    (out_dir / "results.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    fb = out_dir / "feedback"
    fb.mkdir(exist_ok=True)
    for r in rows:
        (fb / f"{r['student']}.html").write_text(feedback_html(r, possible, hide_hidden), encoding="utf-8")


def _csv_safe(text):
    """Keep a spreadsheet from reading a cell as a formula (``=``, ``+``, ``-``, ``@`` first)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


STATUS_LABEL = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "crash": "CRASH"}
CSS = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse;width:100%}"
       "td,th{border:1px solid #ccc;padding:.3em;vertical-align:top;text-align:left}"
       "pre{white-space:pre-wrap;margin:0;font-size:.85em}.pass{color:#070}.bad{color:#a00}")


def feedback_html(row, possible, hide_hidden=False):
    """The feedback page of one row; ``hide_hidden``: hidden checks only as one total line."""
    e = html.escape
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
           f"<title>Feedback for {e(row['student'])}</title><style>{CSS}</style></head><body>",
           f"<h1>Assignment 2: feedback for {e(row['student'])}</h1>",
           f"<p><b>Total: {_num(row['total'])} / {_num(possible)}</b> (autograder {_num(row['autograder'])}, "
           f"notebooks {_num(row['notebooks'])}). Status: {e(row['status'])}.</p>"]
    if row["problems"] or row.get("notes"):
        out.append("<h2>Problems with the submission</h2><ul>")
        out += [f"<li>{e(p)}</li>" for p in row["problems"] + row.get("notes", [])]
        out.append("</ul>")
    shown = [c for c in row["checks"] if not (hide_hidden and c.get("visibility") == "hidden")]
    hidden = [c for c in row["checks"] if c not in shown]
    if row["checks"]:
        out.append("<h2>Autograder checks</h2><table><tr><th>part</th><th>check</th><th>result</th>"
                   "<th>points</th><th>message</th></tr>")
        if hidden:
            out.append(f"<tr><td></td><td>{len(hidden)} hidden checks</td><td></td><td>"
                       f"{_num(sum(c['earned'] for c in hidden))} / {_num(sum(c['points'] for c in hidden))}"
                       "</td><td></td></tr>")
        for c in shown:
            cls = "pass" if c["status"] == "pass" else "bad"
            out.append(f"<tr><td>{e(c.get('part', ''))}</td><td>{e(c['title'])}</td>"
                       f"<td class='{cls}'>{e(STATUS_LABEL.get(c['status'], c['status']))}</td>"
                       f"<td>{_num(c['earned'])} / {_num(c['points'])}</td><td><pre>{e(c['message'])}</pre></td></tr>")
        out.append("</table>")
    if row["notebook_items"]:
        out.append("<h2>Notebooks</h2><table><tr><th>item</th><th>result</th><th>points</th><th>details</th></tr>")
        for i in row["notebook_items"]:
            label = "ok" if i["ok"] else ("FAIL" if i["graded"] else "to review")
            pts = f"{_num(i['earned'])} / {_num(i['points'])}" if i["graded"] else "not graded"
            out.append(f"<tr><td>{e(i['title'])}</td><td class='{'pass' if i['ok'] else 'bad'}'>{label}</td>"
                       f"<td>{pts}</td><td><pre>{e(i['message'])}</pre></td></tr>")
        out.append("</table>")
    out.append("</body></html>\n")
    return "\n".join(out)
