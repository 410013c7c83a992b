"""make deploy-org: the recorder in every account and Region of an organization, from one
StackSet (README, "Across an organization"). Development tooling, never deployed.

StackSets with service-managed permissions refuse a template that uses any transform, AWS's own
AWS::Serverless included (CloudFormation API Reference, "CreateStackSet", Capabilities). So this
turns the organization's SAM template (org/recorder.yaml, built by `sam build`) into plain
CloudFormation with AWS's own translator (samtranslator, which SAM CLI and cfn-lint use), with
each function's code in a bucket of each Region (Lambda reads code only from a bucket in the
function's Region: Lambda API Reference, "FunctionCode"), readable by the organization.

    deploy_org.py check OUT.json               # the plain template, with placeholder code (make test)
    deploy_org.py deploy --bucket-prefix P --regions R1,R2 (--ous OU,... | --accounts ID,...) ...
"""

import argparse
import hashlib
import io
import json
import os
import sys
import time
import zipfile

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

# The security review's translator (tools/sam-translate) and this one share its policy loader.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sam-translate"))
from translate import NoManagedPolicies  # noqa: E402

MACRO = "VpcFlowLogsRecorder-NatGatewayAlarms"
CODE_PREFIX = "vpc-flowlogs-recorder"
# A StackSet operation's states that end it (CloudFormation API Reference, "StackSetOperation").
DONE = {"SUCCEEDED", "FAILED", "STOPPED"}


def fail(message):
    print(f"deploy-org: {message}", file=sys.stderr)
    sys.exit(1)


def load(path):
    template, problems = decode(path)
    if problems:
        fail(f"{path} is not a template: {problems[0]}")
    return json.loads(json.dumps(template, default=str))


def plain_template(sam, code, asl, bucket_prefix):
    """The SAM template as plain CloudFormation: `code` maps each function's logical id to its
    code's key; the state machine's definition is inlined (no bucket of its own to reach)."""
    sam = json.loads(json.dumps(sam))
    sam.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for logical_id, resource in sam["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            if logical_id not in code:
                fail(f"no code for the function {logical_id}")
            resource["Properties"]["CodeUri"] = {"Bucket": "placeholder", "Key": code[logical_id]}
        if resource["Type"] == "AWS::Serverless::StateMachine":
            resource["Properties"].pop("DefinitionUri", None)
            resource["Properties"]["Definition"] = asl
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator's session needs one
    plain = transform(sam, {}, NoManagedPolicies())
    bucket = {"Fn::Sub": f"{bucket_prefix}-${{AWS::Region}}"}
    for resource in plain["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Code"]["S3Bucket"] = bucket
    text = json.dumps(plain)
    if "Transform" in plain or MACRO in text or "AWS::Serverless::" in text:
        fail("the translated template still uses a transform or a macro")
    return plain


def check(args):
    sam = load(args.template)
    functions = [i for i, r in sam["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    code = {f: f"{CODE_PREFIX}/0000/{f}.zip" for f in functions}
    with open(args.asl) as asl:
        plain = plain_template(sam, code, json.load(asl), "example-recorder-code")
    with open(args.out, "w") as out:
        json.dump(plain, out, indent=1)
    print(f"wrote {args.out}: {len(plain['Resources'])} resources, no transform")


def zipped(directory):
    """The folder's files, zipped the same way each time (same content, same key)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, _, files in sorted(os.walk(directory)):
            for name in sorted(files):
                path = os.path.join(root, name)
                info = zipfile.ZipInfo(os.path.relpath(path, directory), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (os.stat(path).st_mode & 0o777) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as f:
                    archive.writestr(info, f.read())
    return buffer.getvalue()


def readers_policy(bucket, organization_id, accounts):
    """Who may read the code: the organization's accounts (or the listed ones), nobody else."""
    statement = {
        "Sid": "TheRecordersReadTheirCode",
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]} if accounts else "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{CODE_PREFIX}/*",
    }
    if not accounts:
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": organization_id}}
    # No write for anyone but the account, and no secret: the code is this repository's build.
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def bucket_in(session, region, prefix, organization_id, accounts):
    """The Region's code bucket, `<prefix>-<region>`, made if missing, readable as above."""
    import botocore.exceptions

    s3 = session.client("s3", region_name=region)
    bucket = f"{prefix}-{region}"
    try:
        s3.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            fail(f"the bucket {bucket} exists but cannot be used: {e}")
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **config)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": False,  # the policy below names the organization, not the public
                "RestrictPublicBuckets": False,
            },
        )
        print(f"created the bucket {bucket}")
    s3.put_bucket_policy(Bucket=bucket, Policy=readers_policy(bucket, organization_id, accounts))
    return s3, bucket


def parameters(pairs):
    out = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"parameter {pair!r} is not Name=Value")
        out.append({"ParameterKey": name, "ParameterValue": value})
    return out


def wait(cloudformation, stack_set, operation_id, call_as):
    while True:
        operation = cloudformation.describe_stack_set_operation(
            StackSetName=stack_set, OperationId=operation_id, CallAs=call_as
        )["StackSetOperation"]
        if operation["Status"] in DONE:
            return operation
        print(f"  {operation['Action'].lower()} {operation['Status'].lower()}...")
        time.sleep(15)


def deploy(args):
    import boto3

    if bool(args.ous) == bool(args.accounts):
        fail("name the organizational units (OUS=ou-...) or, outside an organization, the accounts (ACCOUNTS=...)")
    regions = [r for r in args.regions.split(",") if r]
    if not regions:
        fail("name at least one Region (REGIONS=eu-west-1,us-east-1)")
    values = parameters(args.parameter)
    if not os.path.exists(os.path.join(args.build_dir, "template.yaml")):
        fail(f"{args.build_dir} has no template.yaml: make deploy-org builds it (sam build --template-file org/recorder.yaml)")
    session = boto3.session.Session()
    accounts = [a for a in (args.accounts or "").split(",") if a]
    organization_id = None
    if not accounts:
        organization_id = session.client("organizations").describe_organization()["Organization"]["Id"]
    built = load(os.path.join(args.build_dir, "template.yaml"))
    code, archives = {}, {}
    for logical_id, resource in built["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            archive = zipped(os.path.join(args.build_dir, resource["Properties"].get("CodeUri", logical_id)))
            digest = hashlib.sha256(archive).hexdigest()[:16]
            code[logical_id] = f"{CODE_PREFIX}/{digest}/{logical_id}.zip"
            archives[logical_id] = archive
    for region in regions:
        s3, bucket = bucket_in(session, region, args.bucket_prefix, organization_id, accounts)
        for logical_id, archive in archives.items():
            s3.put_object(Bucket=bucket, Key=code[logical_id], Body=archive, ServerSideEncryption="AES256")
        print(f"code in s3://{bucket}/{CODE_PREFIX}/")
    with open(args.asl) as asl:
        plain = plain_template(load(args.template), code, json.load(asl), args.bucket_prefix)
    home = session.region_name or regions[0]
    s3, bucket = bucket_in(session, home, args.bucket_prefix, organization_id, accounts)
    body = json.dumps(plain, separators=(",", ":")).encode()
    key = f"{CODE_PREFIX}/{hashlib.sha256(body).hexdigest()[:16]}/stackset.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256")
    url = f"https://{bucket}.s3.{home}.amazonaws.com/{key}"

    cloudformation = session.client("cloudformation", region_name=home)
    common = {
        "StackSetName": args.stack_set,
        "TemplateURL": url,
        "Parameters": values,
        "Capabilities": ["CAPABILITY_IAM"],
        "CallAs": args.call_as,
    }
    if accounts:
        targets = {"Accounts": accounts}
        model = {"PermissionModel": "SELF_MANAGED"}
    else:
        targets = {"OrganizationalUnitIds": [o for o in args.ous.split(",") if o]}
        model = {
            "PermissionModel": "SERVICE_MANAGED",
            # New accounts of the OUs get the recorder; a leaving account's stack goes with it.
            "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
        }
    preferences = {"FailureTolerancePercentage": 10, "MaxConcurrentPercentage": 25, "RegionConcurrencyType": "PARALLEL"}
    try:
        cloudformation.describe_stack_set(StackSetName=args.stack_set, CallAs=args.call_as)
        exists = True
    except cloudformation.exceptions.StackSetNotFoundException:
        exists = False
    if exists:
        print(f"updating the StackSet {args.stack_set}")
        operation = cloudformation.update_stack_set(
            **common, DeploymentTargets=targets, Regions=regions, OperationPreferences=preferences, **model
        )["OperationId"]
        wait(cloudformation, args.stack_set, operation, args.call_as)
    else:
        print(f"creating the StackSet {args.stack_set}")
        cloudformation.create_stack_set(**common, **model)
    present = {
        (i["Account"], i["Region"])
        for i in cloudformation.list_stack_instances(StackSetName=args.stack_set, CallAs=args.call_as)["Summaries"]
    }
    missing = [r for r in regions if not any(region == r for _, region in present)]
    if missing:
        operation = cloudformation.create_stack_instances(
            StackSetName=args.stack_set, DeploymentTargets=targets, Regions=missing,
            OperationPreferences=preferences, CallAs=args.call_as,
        )["OperationId"]
        print(f"adding stack instances in {', '.join(missing)}")
        wait(cloudformation, args.stack_set, operation, args.call_as)
    report(cloudformation, args.stack_set, args.call_as)


def report(cloudformation, stack_set, call_as):
    pages = cloudformation.get_paginator("list_stack_instances").paginate(StackSetName=stack_set, CallAs=call_as)
    rows = [i for page in pages for i in page["Summaries"]]
    print(f"\n{'account':<14}{'region':<16}{'status':<12}{'detail':<12}reason")
    for i in sorted(rows, key=lambda i: (i["Account"], i["Region"])):
        detail = i.get("StackInstanceStatus", {}).get("DetailedStatus", "")
        print(f"{i['Account']:<14}{i['Region']:<16}{i['Status']:<12}{detail:<12}{i.get('StatusReason', '')}")
    bad = [i for i in rows if i["Status"] != "CURRENT"]
    print(f"\n{len(rows) - len(bad)} of {len(rows)} stack instances current")
    if bad:
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="org/recorder.yaml")
    parser.add_argument("--asl", default="statemachine/recorder.asl.json")
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("check", help="write the plain template with placeholder code")
    c.add_argument("out")
    d = commands.add_parser("deploy", help="package, then create or update the StackSet")
    d.add_argument("--build-dir", default=".aws-sam/org")
    d.add_argument("--bucket-prefix", required=True, help="code buckets are <prefix>-<region>")
    d.add_argument("--regions", required=True)
    d.add_argument("--ous", help="service-managed: the organizational units (ou-..., or the root r-...)")
    d.add_argument("--accounts", help="self-managed: the accounts, outside an organization")
    d.add_argument("--stack-set", default="nat-recorder")
    d.add_argument("--call-as", default="SELF", choices=["SELF", "DELEGATED_ADMIN"])
    d.add_argument("--parameter", action="append", default=[], help="Name=Value, as often as needed")
    args = parser.parse_args()
    check(args) if args.command == "check" else deploy(args)


if __name__ == "__main__":
    main()
