#!/usr/bin/env python3
"""Validate server.json files against the MCP Registry's published schema.

The schema is the registry's own `server.schema.json` of the version each
file's `$schema` names, as the PyPI package `skillsaw` ships it (copied
byte-for-byte from the registry's static-assets repository, MIT), so the
check needs no network. Prints one JSON object: for each file given, the
schema it was checked against and every error (message and path).
"""

import importlib.resources
import json
import sys

import jsonschema

PREFIX = "https://static.modelcontextprotocol.io/schemas/"


def schema_for(url):
    if not url.startswith(PREFIX) or not url.endswith("/server.schema.json"):
        raise SystemExit("not a registry schema URL: %r" % url)
    version = url[len(PREFIX):].split("/")[0].replace("-", "_")
    package = "skillsaw.schemas.mcp_registry.v" + version
    text = (importlib.resources.files(package) / "server.schema.json").read_text()
    schema = json.loads(text)
    if schema.get("$id") != url:
        raise SystemExit("the bundled schema is %r, not %r" % (schema.get("$id"), url))
    return schema


def main():
    report = {}
    for path in sys.argv[1:]:
        with open(path) as f:
            document = json.load(f)
        schema = schema_for(document.get("$schema", ""))
        validator_class = jsonschema.validators.validator_for(schema)
        validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
        report[path] = {
            "schema": schema["$id"],
            "errors": [
                {"message": e.message, "path": [str(p) for p in e.absolute_path]}
                for e in validator.iter_errors(document)
            ],
        }
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
