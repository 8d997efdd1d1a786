"""Validates FHIR R4 Questionnaires with fhir.resources (FHIR 4.0.1 models): every file given
must be a Questionnaire its models read without an error (element names, cardinality, required
elements, primitive formats; terminology bindings are not checked). Prints the figures and
exits non-zero when any file fails.

fhir.resources does not model extensions on the primitive value of an Extension
(`_valueString` beside `valueString`, as translations of an extension's text are written),
although FHIR R4's JSON format and its JSON schema allow them. Each one is taken out of its
Extension and read on its own as an Element, so it is still checked, and counted."""

import json
import sys

import fhir.resources
from fhir.resources.element import Element
from fhir.resources.questionnaire import Questionnaire


def detach_value_extensions(node):
    """Removes every `_value[x]` from the Extensions under `node`; returns them."""
    found = []
    if isinstance(node, dict):
        if "url" in node:
            for key in [key for key in node if key.startswith("_value")]:
                found.append(node.pop(key))
        for child in node.values():
            found.extend(detach_value_extensions(child))
    elif isinstance(node, list):
        for child in node:
            found.extend(detach_value_extensions(child))
    return found


def main(paths):
    failures = []
    detached = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as file:
                resource = json.load(file)
            if resource.get("resourceType") != "Questionnaire":
                raise ValueError("resourceType is not Questionnaire")
            for element in detach_value_extensions(resource):
                Element.parse_obj(element)
                detached += 1
            Questionnaire.parse_obj(resource)
        except Exception as error:  # every failure is reported, whatever its kind
            failures.append((path, error))
    for path, error in failures:
        print(f"  invalid: {path}\n    " + str(error).replace("\n", "\n    "))
    print(
        f"FHIR R4 validation (fhir.resources {fhir.resources.__version__}, FHIR "
        f"{fhir.resources.__fhir_version__}): {len(paths) - len(failures)} of {len(paths)} "
        f"exported Questionnaires valid, {len(failures)} invalid ({detached} extensions on "
        f"extension values read as Elements)"
    )
    return 1 if failures or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
