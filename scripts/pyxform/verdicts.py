"""Runs the reference XLSForm converter, pyxform, over markdown forms and records its verdicts.

Usage: verdicts.py OUT.json [--forms DIR] [--corpus FILE]

For every `*.md` form in DIR (the project's own corpus) and every form of FILE (a JSON list of
objects with an `md` member, the shared corpus), converts the form with pyxform (through an xlsx
workbook, as pyxform's own tests do) and records
"ok" or "error" (with pyxform's message): {"forms": {file name: verdict}, "corpus": [verdict,
...] in the corpus's order}. A form pyxform refuses is a verdict, not a failure of this script.
"""

import argparse
import io
import json
import pathlib

from pyxform.xls2json_backends import md_table_to_workbook
from pyxform.xls2xform import convert


def verdict(markdown):
    """The form as pyxform's own test suite converts one: its tables written to an xlsx
    workbook, which pyxform then reads as an analyst's upload (duplicate headers and all)."""
    try:
        workbook = io.BytesIO()
        md_table_to_workbook(markdown).save(workbook)
        convert(xlsform=workbook.getvalue(), file_type=".xlsx", form_name="data")
    except Exception as error:  # pyxform's refusals are of many types; each is a verdict
        return {"verdict": "error", "message": str(error)[:300]}
    return {"verdict": "ok"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--forms")
    parser.add_argument("--corpus")
    arguments = parser.parse_args()
    result = {"pyxform": __import__("pyxform").__version__, "forms": {}, "corpus": []}
    if arguments.forms:
        for path in sorted(pathlib.Path(arguments.forms).glob("*.md")):
            result["forms"][path.name] = verdict(path.read_text(encoding="utf-8"))
    if arguments.corpus:
        with open(arguments.corpus, encoding="utf-8") as corpus:
            result["corpus"] = [verdict(entry.get("md", "")) for entry in json.load(corpus)]
    with open(arguments.out, "w", encoding="utf-8") as out:
        json.dump(result, out)
    print(
        f"pyxform {result['pyxform']}: {len(result['forms'])} own forms, "
        f"{len(result['corpus'])} corpus forms converted"
    )


if __name__ == "__main__":
    main()
