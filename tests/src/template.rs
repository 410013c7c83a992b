//! Reads `template.yaml` the way CloudFormation would resolve the parts the code depends on,
//! so tests fail when the template and the code disagree.

use std::collections::BTreeMap;

use serde_norway::Value;

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

pub use recorder::fixtures::{repo_file, repo_root};

/// The path, in the repository, of the template the scenarios deploy.
pub fn deployed_template() -> String {
    std::env::var("RECORDER_TEMPLATE").unwrap_or_else(|_| "template.yaml".to_owned())
}

pub fn read_repo_file(path: &str) -> String {
    let full = repo_file(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

impl Template {
    pub fn load() -> Self {
        Self::load_file("template.yaml")
    }

    /// The template the scenarios deploy: `template.yaml`, or the one `RECORDER_TEMPLATE` names
    /// (`org/recorder.yaml`: `make test` runs the scenarios on both).
    pub fn deployed() -> Self {
        Self::load_file(&deployed_template())
    }

    pub fn load_file(path: &str) -> Self {
        let text = read_repo_file(path);
        Self { root: serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}")) }
    }

    pub fn resource(&self, logical_id: &str) -> &Value {
        let resource = &self.root["Resources"][logical_id];
        assert!(!resource.is_null(), "template.yaml has no resource {logical_id}");
        resource
    }

    /// The template's functions: logical id and the binary it builds (`BuildProperties.Binary`),
    /// in the template's order.
    pub fn functions(&self) -> Vec<(String, String)> {
        let resources = self.root["Resources"].as_mapping().expect("Resources");
        resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
            .map(|(id, r)| {
                let id = id.as_str().expect("a logical id").to_owned();
                let binary = r["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{id} names no BuildProperties.Binary"))
                    .to_owned();
                (id, binary)
            })
            .collect()
    }

    /// Every IAM action a function's execution role (`Role: !GetAtt <Role>.Arn`) allows, from
    /// its inline policies. Resources and conditions are left out: moto evaluates neither (the
    /// security tests check them in the template).
    pub fn function_role_actions(&self, logical_id: &str) -> Vec<String> {
        let role = &self.resource(logical_id)["Properties"]["Role"];
        let Value::Tagged(tagged) = role else { panic!("{logical_id}: Role is not !GetAtt <Role>.Arn: {role:?}") };
        let target = scalar(&tagged.value).expect("!GetAtt <Role>.Arn");
        let role_id = target.strip_suffix(".Arn").unwrap_or_else(|| panic!("{logical_id}: Role is {target}"));
        let mut actions = Vec::new();
        for policy in self.resource(role_id)["Properties"]["Policies"].as_sequence().expect("the role's Policies") {
            for statement in policy["PolicyDocument"]["Statement"].as_sequence().expect("Statement") {
                // A Deny scoped to a resource would deny everything once resources are dropped.
                assert_eq!(
                    statement["Effect"].as_str(),
                    Some("Allow"),
                    "{role_id}: only Allow statements are modelled"
                );
                match &statement["Action"] {
                    Value::Sequence(list) => actions.extend(list.iter().filter_map(scalar)),
                    action => actions.push(scalar(action).expect("an action")),
                }
            }
        }
        actions.sort();
        actions.dedup();
        actions
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

    /// Resolves `!Ref`, `!Sub`, `!GetAtt` and `!If` as CloudFormation would, with `resolver`'s
    /// values.
    pub fn resolve(&self, value: &Value, resolver: &Resolver<'_>) -> String {
        if let Some(text) = scalar(value) {
            return text;
        }
        let Value::Tagged(tagged) = value else { panic!("cannot resolve {value:?}") };
        if tagged.tag == "!If" {
            let [condition, then, otherwise] = tagged.value.as_sequence().map(Vec::as_slice).unwrap_or_default() else {
                panic!("!If takes [condition, value if true, value if false]: {value:?}")
            };
            let name = scalar(condition).expect("a condition's name");
            return self.resolve(if self.condition(&name, resolver) { then } else { otherwise }, resolver);
        }
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

    /// Whether the template's condition `name` holds: `!Equals` of two resolved values, `!Not`.
    pub fn condition(&self, name: &str, resolver: &Resolver<'_>) -> bool {
        let definition = &self.root["Conditions"][name];
        assert!(!definition.is_null(), "the template has no condition {name}");
        self.holds(definition, resolver)
    }

    fn holds(&self, value: &Value, resolver: &Resolver<'_>) -> bool {
        let Value::Tagged(tagged) = value else { panic!("not a condition: {value:?}") };
        let arguments = tagged.value.as_sequence().unwrap_or_else(|| panic!("{} takes a list", tagged.tag));
        match (tagged.tag.to_string().as_str(), arguments.as_slice()) {
            ("!Equals", [a, b]) => self.resolve(a, resolver) == self.resolve(b, resolver),
            ("!Not", [inner]) => !self.holds(inner, resolver),
            (other, _) => panic!("the local stack does not evaluate {other} in a condition"),
        }
    }

    fn reference(&self, name: &str, resolver: &Resolver<'_>) -> String {
        match name {
            "AWS::StackName" => resolver.stack_name.to_owned(),
            "AWS::Region" => resolver.region.to_owned(),
            "AWS::AccountId" => resolver.account.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::StackId" => stack_id(resolver.region, resolver.account, resolver.stack_name),
            _ => resolver
                .resources
                .get(name)
                .cloned()
                .or_else(|| self.parameter_default(name))
                .unwrap_or_else(|| panic!("no value for !Ref {name}")),
        }
    }
}

/// The template as CloudFormation's JSON form: `!Ref x` becomes `{"Ref": "x"}`, `!GetAtt a.b`
/// becomes `{"Fn::GetAtt": ["a", "b"]}`, any other `!Fn` becomes `{"Fn::Fn": ...}`.
pub fn to_cfn_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => serde_json::to_value(n).expect("a number"),
        Value::String(s) => J::String(s.clone()),
        Value::Sequence(items) => J::Array(items.iter().map(to_cfn_json).collect()),
        Value::Mapping(map) => J::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().map(str::to_owned).unwrap_or_else(|| format!("{k:?}")), to_cfn_json(v)))
                .collect(),
        ),
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            match (name, &tagged.value) {
                ("Ref", v) => serde_json::json!({"Ref": to_cfn_json(v)}),
                ("GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').expect("!GetAtt Resource.Attribute");
                    serde_json::json!({"Fn::GetAtt": [resource, attribute]})
                }
                (other, v) => serde_json::json!({ format!("Fn::{other}"): to_cfn_json(v) }),
            }
        }
    }
}

impl Template {
    /// What CloudFormation passes the macro: the template as JSON, and the parameter values
    /// (defaults, then `overrides`), then what the macro returns.
    pub fn expanded(&self, overrides: &[(&str, serde_json::Value)]) -> Result<serde_json::Value, String> {
        let fragment = to_cfn_json(&self.root);
        let mut values = serde_json::Map::new();
        for (name, parameter) in self.root["Parameters"].as_mapping().expect("Parameters") {
            let name = name.as_str().expect("a parameter name").to_owned();
            if let Some(default) = scalar(&parameter["Default"]) {
                values.insert(name, serde_json::Value::String(default));
            }
        }
        for (name, value) in overrides {
            values.insert(name.to_string(), value.clone());
        }
        let request: nat_alarms_macro::MacroRequest = serde_json::from_value(serde_json::json!({
            "requestId": "local",
            "fragment": fragment,
            "templateParameterValues": values,
        }))
        .expect("a macro request");
        let response = nat_alarms_macro::handle(request);
        match response.error_message {
            // CloudFormation consumes the macro's own entry in Transform; SAM's stays.
            None => {
                let mut fragment = response.fragment;
                if let Some(transforms) = fragment.get_mut("Transform").and_then(serde_json::Value::as_array_mut) {
                    transforms.retain(|t| t != nat_alarms_macro::MACRO_NAME);
                }
                Ok(fragment)
            }
            Some(message) => Err(message),
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

/// A stack's id as CloudFormation forms it (`AWS::StackId`): the stack's ARN, ending in an id of
/// its own (one fixed here: every local stack has a name of its own).
pub fn stack_id(region: &str, account: &str, stack_name: &str) -> String {
    format!("arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/5d2a8e10-93c1-11ef-a2f5-0affd3c1e8b3")
}
