"""Prints the CloudFormation template SAM makes of a template (JSON on stdin), as JSON.

The security review reads the roles and policies SAM generates, not only the ones we write
(tests/tests/security.rs runs this with the project's virtualenv). Offline: no AWS call is made;
a managed policy named by name (none is) would fail the translation.
"""

import json
import os
import sys

from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no managed policy, so there is nothing to look up in IAM."""

    def load(self):
        return {}


def as_packaged(template):
    """Local code and definition paths become S3 locations, as `sam package` would make them."""
    globals_function = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_function:
        globals_function["CodeUri"] = "s3://packaged/code.zip"
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "DefinitionUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = f"s3://packaged/{logical_id}"
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" not in properties and not globals_function:
            properties["CodeUri"] = f"s3://packaged/{logical_id}"
    return template


def main():
    # samtranslator reads the region for its ARNs from the environment; nothing is called.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = as_packaged(json.load(sys.stdin))
    parameters = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    translated = transform(template, parameters, NoManagedPolicies())
    json.dump(translated, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
