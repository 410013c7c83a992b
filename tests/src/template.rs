//! Reads `template.yaml` the way CloudFormation would resolve the parts the code depends on,
//! so tests fail when the template and the code disagree.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_yaml::Value;

/// The parsed main template.
pub struct Template {
    pub root: Value,
}

/// What intrinsic functions resolve to in a test: the stack name, and a value for each
/// resource reference (`Logical` for `!Ref`, `Logical.Attr` for `!GetAtt`).
pub struct Resolver<'a> {
    pub stack_name: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resources: BTreeMap<String, String>,
}

pub fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

pub fn read_repo_file(path: &str) -> String {
    let full = repo_file(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

impl Template {
    pub fn load() -> Self {
        let text = read_repo_file("template.yaml");
        Self { root: serde_yaml::from_str(&text).expect("template.yaml is YAML") }
    }

    pub fn resource(&self, logical_id: &str) -> &Value {
        let resource = &self.root["Resources"][logical_id];
        assert!(!resource.is_null(), "template.yaml has no resource {logical_id}");
        resource
    }

    pub fn parameter_default(&self, name: &str) -> Option<String> {
        scalar(&self.root["Parameters"][name]["Default"])
    }

    /// A function's environment variables, resolved.
    pub fn function_env(&self, logical_id: &str, resolver: &Resolver<'_>) -> BTreeMap<String, String> {
        let variables = &self.resource(logical_id)["Properties"]["Environment"]["Variables"];
        let mapping = variables.as_mapping().unwrap_or_else(|| panic!("{logical_id} has no environment variables"));
        mapping
            .iter()
            .map(|(k, v)| (k.as_str().expect("a variable name").to_owned(), self.resolve(v, resolver)))
            .collect()
    }

    /// Resolves `!Ref`, `!Sub` and `!GetAtt` as CloudFormation would, with `resolver`'s values.
    pub fn resolve(&self, value: &Value, resolver: &Resolver<'_>) -> String {
        if let Some(text) = scalar(value) {
            return text;
        }
        let Value::Tagged(tagged) = value else { panic!("cannot resolve {value:?}") };
        let argument = scalar(&tagged.value).unwrap_or_else(|| panic!("{} takes a string here", tagged.tag));
        match tagged.tag.to_string().as_str() {
            "!Ref" => self.reference(&argument, resolver),
            "!GetAtt" => {
                resolver.resources.get(&argument).cloned().unwrap_or_else(|| panic!("no value for !GetAtt {argument}"))
            }
            "!Sub" => {
                let mut out = String::new();
                let mut rest = argument.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let end = rest[start..].find('}').expect("a closed ${...}") + start;
                    let name = &rest[start + 2..end];
                    out.push_str(&if name.contains('.') && !name.starts_with("AWS::") {
                        resolver.resources.get(name).cloned().unwrap_or_else(|| panic!("no value for ${{{name}}}"))
                    } else {
                        self.reference(name, resolver)
                    });
                    rest = &rest[end + 1..];
                }
                out.push_str(rest);
                out
            }
            other => panic!("unsupported intrinsic {other}"),
        }
    }

    fn reference(&self, name: &str, resolver: &Resolver<'_>) -> String {
        match name {
            "AWS::StackName" => resolver.stack_name.to_owned(),
            "AWS::Region" => resolver.region.to_owned(),
            "AWS::AccountId" => resolver.account.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            _ => resolver
                .resources
                .get(name)
                .cloned()
                .or_else(|| self.parameter_default(name))
                .unwrap_or_else(|| panic!("no value for !Ref {name}")),
        }
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
