//! `make deploy-org` (tools/deploy-org/deploy_org.py) against a moto server: an organization with
//! one OU and one account, the code in a bucket of each Region, a service-managed StackSet made
//! from the organization's template turned into plain CloudFormation, then updated with one more
//! Region; and refusals that name what is missing. moto plays Organizations, S3 and the
//! StackSet's bookkeeping; it does not deploy the stack instances' resources, which the scenario
//! suite runs on org/recorder.yaml instead.

use std::path::Path;
use std::process::{Command, Output};

use recorder_tests::template::{read_repo_file, repo_file};
use recorder_tests::{bare_moto, unique};

fn python() -> std::path::PathBuf {
    repo_file(".venv/bin/python")
}

/// Runs Python with moto's endpoint and throwaway credentials.
fn run(endpoint: &str, args: &[&str]) -> Output {
    Command::new(python())
        .args(args)
        .current_dir(repo_file(""))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the virtualenv's Python runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// What `sam build --template-file org/recorder.yaml` leaves: the template with each function's
/// CodeUri its own folder, each with a bootstrap.
fn built(dir: &Path) {
    let mut template = read_repo_file("org/recorder.yaml").replace("    CodeUri: ..\n", "");
    let lines: Vec<&str> = template.lines().collect();
    let functions: Vec<String> = lines
        .windows(2)
        .filter(|pair| pair[1] == "    Type: AWS::Serverless::Function")
        .map(|pair| pair[0].trim().trim_end_matches(':').to_owned())
        .collect();
    assert_eq!(functions.len(), 6, "{functions:?}");
    for function in &functions {
        std::fs::create_dir_all(dir.join(function)).unwrap();
        std::fs::write(dir.join(function).join("bootstrap"), format!("{function} build")).unwrap();
        let header = format!("\n  {function}:\n    Type: AWS::Serverless::Function\n");
        let at = template.find(&header).unwrap();
        let properties = at + template[at..].find("\n    Properties:\n").unwrap() + "\n    Properties:\n".len();
        template.insert_str(properties, &format!("      CodeUri: {function}\n"));
    }
    std::fs::write(dir.join("template.yaml"), template).unwrap();
}

#[test]
fn one_command_rolls_the_recorder_out_to_an_organizations_units_and_regions() {
    let endpoint = bare_moto();
    // An organization with one OU holding one account
    let setup = run(
        &endpoint,
        &[
            "-c",
            "import boto3; o = boto3.client('organizations'); o.create_organization(FeatureSet='ALL'); \
             root = o.list_roots()['Roots'][0]['Id']; \
             ou = o.create_organizational_unit(ParentId=root, Name='workloads')['OrganizationalUnit']['Id']; \
             a = o.create_account(Email='p@example.com', AccountName='payments')['CreateAccountStatus']['AccountId']; \
             o.move_account(AccountId=a, SourceParentId=root, DestinationParentId=ou); print(ou, a)",
        ],
    );
    assert!(setup.status.success(), "{}", text(&setup));
    let out = String::from_utf8(setup.stdout).unwrap();
    let (ou, account) = out.trim().split_once(' ').unwrap();
    let dir = std::env::temp_dir().join(unique("org-build"));
    built(&dir);
    let build_dir = dir.to_str().unwrap();
    let deploy = |regions: &str| {
        run(
            &endpoint,
            &[
                "tools/deploy-org/deploy_org.py",
                "deploy",
                "--build-dir",
                build_dir,
                "--bucket-prefix",
                "acme-recorder",
                "--regions",
                regions,
                "--ous",
                ou,
                "--parameter",
                "ReportTopicArn=arn:aws:sns:us-east-1:111122223333:r",
                "--parameter",
                "ReportTopicKeyArn=arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            ],
        )
    };
    let first = deploy("us-east-1,eu-west-1");
    let said = text(&first);
    assert!(first.status.success(), "{said}");
    assert!(said.contains("creating the StackSet nat-recorder"), "{said}");
    assert!(said.contains("code in s3://acme-recorder-eu-west-1/vpc-flowlogs-recorder/"), "{said}");
    assert!(said.contains(&format!("{account}  eu-west-1       CURRENT")), "{said}");
    assert!(said.contains("2 of 2 stack instances current"), "{said}");
    // Again, with one more Region: an update, and one more instance
    let second = deploy("us-east-1,eu-west-1,ap-southeast-2");
    let said = text(&second);
    assert!(second.status.success(), "{said}");
    assert!(said.contains("updating the StackSet nat-recorder"), "{said}");
    assert!(said.contains("adding stack instances in ap-southeast-2"), "{said}");
    assert!(said.contains("3 of 3 stack instances current"), "{said}");
    // The StackSet's template is plain CloudFormation: no transform, code per Region
    let template = run(
        &endpoint,
        &[
            "-c",
            "import boto3; print(boto3.client('cloudformation').describe_stack_set(StackSetName='nat-recorder')\
             ['StackSet']['TemplateBody'])",
        ],
    );
    let body = String::from_utf8_lossy(&template.stdout);
    assert!(template.status.success(), "{}", text(&template));
    assert!(!body.contains("Transform") && !body.contains("AWS::Serverless"), "{body}");
    assert!(body.contains("acme-recorder-${AWS::Region}"), "{body}");
}

#[test]
fn deploy_org_names_what_is_missing() {
    let endpoint = bare_moto();
    let both =
        run(&endpoint, &["tools/deploy-org/deploy_org.py", "deploy", "--bucket-prefix", "p", "--regions", "us-east-1"]);
    assert!(!both.status.success());
    assert!(
        text(&both).contains("name the organizational units (OUS=ou-...) or, outside an organization, the accounts")
    );
    let parameter = run(
        &endpoint,
        &[
            "tools/deploy-org/deploy_org.py",
            "deploy",
            "--bucket-prefix",
            "p",
            "--regions",
            "us-east-1",
            "--accounts",
            "111122223333",
            "--parameter",
            "Threshold",
        ],
    );
    assert!(!parameter.status.success());
    assert!(text(&parameter).contains("parameter 'Threshold' is not Name=Value"), "{}", text(&parameter));
}

#[test]
fn the_stackset_template_is_plain_cloudformation_that_cfn_lint_accepts() {
    let out = std::env::temp_dir().join(format!("{}.json", unique("stackset")));
    let out = out.to_str().unwrap();
    let check = run("http://127.0.0.1:9", &["tools/deploy-org/deploy_org.py", "check", out]);
    assert!(check.status.success(), "{}", text(&check));
    let body = std::fs::read_to_string(out).unwrap();
    assert!(!body.contains("\"Transform\"") && !body.contains("AWS::Serverless::"), "a transform is left");
    assert!(!body.contains("VpcFlowLogsRecorder-NatGatewayAlarms"), "the macro is named");
    let lint = Command::new(repo_file(".venv/bin/cfn-lint")).arg(out).output().expect("cfn-lint runs");
    assert!(lint.status.success(), "{}", text(&lint));
}
