#!/usr/bin/env python3
"""Validate every configs/*.yaml against the policy's JSON Schema.

usage: validate_schema.py CONFIGS [SCHEMA]; SCHEMA defaults to CONFIGS/policy.schema.json
(the build writes it with the plugins' keys: plugins/CMakeLists.txt).

YAML is read with PyYAML's SafeLoader minus its YAML 1.1 timestamp rule, so that
`support_until: 2030-03-31` stays the string sekisho reads, not a Python date. A mutated
copy of each file (one unknown key) must fail, so this test can fail.
"""
import copy
import glob
import os
import sys

import jsonschema
import yaml


class PolicyLoader(yaml.SafeLoader):
    pass


PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def main() -> int:
    configs = sys.argv[1]
    schema_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(configs, "policy.schema.json")
    with open(schema_path, encoding="utf-8") as f:
        schema = __import__("json").load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted(glob.glob(os.path.join(configs, "*.yaml")))
    if not files:
        print(f"no policies under {configs}")
        return 1
    failed = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            document = yaml.load(f, Loader=PolicyLoader)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        for error in errors:
            where = "/".join(str(p) for p in error.path) or "(top)"
            print(f"{path}: {where}: {error.message}")
        mutated = copy.deepcopy(document)
        mutated["unknown_key_for_the_test"] = 1
        if validator.is_valid(mutated):
            print(f"{path}: the schema accepted an unknown top-level key")
            errors.append("mutation")
        status = "FAIL" if errors else "ok"
        print(f"{status}: {os.path.basename(path)}")
        failed += bool(errors)
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
