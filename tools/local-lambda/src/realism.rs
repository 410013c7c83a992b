//! What real AWS does and moto does not, applied by the gateway to the calls of the code under
//! test: eventual consistency, latency and throttling. Callers a test names as observers (its
//! own clients, by access key) see moto as it is, so a test can check the truth while the code
//! it tests sees what AWS would show it.
//!
//! - Eventual consistency: "Describe" calls may not see a resource for a while after it was
//!   created (EC2 API Reference, "Eventual consistency in the Amazon EC2 API"; Step Functions'
//!   DescribeExecution answers `ExecutionDoesNotExist` for a moment after StartExecution, the
//!   reason the sweep has a minimum age). The gateway hides an execution from DescribeExecution,
//!   and a flow log from DescribeFlowLogs, for `consistency_lag` after it was created.
//! - Throttling: the next `n` calls of one action answer the service's own throttling error, in
//!   the service's protocol (EC2 `RequestLimitExceeded`, EC2 API Reference "Request throttling";
//!   `ThrottlingException` for the JSON services and SNS, their API references and the SNS
//!   knowledge-center article "sns-throttling-exception-errors").
//! - Latency: every call of one action waits this long before moto sees it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::HeaderMap;

/// One AWS API call, named as IAM names its action: `ec2:DescribeFlowLogs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The SigV4 signing name: `ec2`, `states`, `dynamodb`, `logs`, `sns`, `sts`, `iam`.
    pub service: String,
    pub region: String,
    pub operation: String,
    /// The access key that signed the call.
    pub access_key: Option<String>,
}

impl Call {
    /// Names the call from its request: the service and access key from the SigV4
    /// `Authorization` header's credential scope; the operation from `X-Amz-Target` (JSON
    /// protocols) or the form body's `Action` (query protocols).
    pub fn identify(headers: &HeaderMap, body: &[u8]) -> Option<Self> {
        let authorization = headers.get("authorization")?.to_str().ok()?;
        // AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/ec2/aws4_request, SignedHeaders=...
        let credential = authorization.split("Credential=").nth(1)?.split(',').next()?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key, _date, region, service, ..] = scope[..] else { return None };
        let (access_key, region, service) = (Some(access_key.to_owned()), region.to_owned(), service.to_owned());
        let operation = match headers.get("x-amz-target").and_then(|t| t.to_str().ok()) {
            Some(target) => target.rsplit('.').next()?.to_owned(),
            None => form_value(body, "Action")?,
        };
        Some(Self { service, region, operation, access_key })
    }

    pub fn action(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }

    fn is(&self, action: &str) -> bool {
        action.split_once(':').is_some_and(|(s, o)| s == self.service && o == self.operation)
    }

    /// The service's own throttling error, in its protocol: status, content type, body.
    pub fn throttled(&self) -> (u16, &'static str, String) {
        match self.service.as_str() {
            "ec2" => (
                503,
                "text/xml",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
                 <Message>Request limit exceeded.</Message></Error></Errors><RequestID>throttled</RequestID></Response>"
                    .into(),
            ),
            "sns" | "iam" | "sts" => (
                400,
                "text/xml",
                "<ErrorResponse><Error><Type>Sender</Type><Code>ThrottlingException</Code><Message>Rate exceeded\
                 </Message></Error><RequestId>throttled</RequestId></ErrorResponse>"
                    .into(),
            ),
            _ => (
                400,
                "application/x-amz-json-1.0",
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
            ),
        }
    }
}

/// The value of one field of a form-encoded body (`Action=DescribeFlowLogs&Version=...`).
pub(crate) fn form_value(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
}

#[derive(Default)]
struct Settings {
    /// What was throttled so far, by action, and how often something young was hidden, by the
    /// access key of the caller it was hidden from.
    throttled: HashMap<String, usize>,
    hidden: HashMap<String, usize>,
    consistency_lag: Duration,
    latency: HashMap<String, Duration>,
    throttles: HashMap<String, usize>,
    observers: HashSet<String>,
}

/// The gateway's realism: what it is set to do, and the young resources it hides.
#[derive(Default)]
pub struct Realism {
    settings: Mutex<Settings>,
    /// Executions and flow logs by id, with when they were created.
    born: Mutex<HashMap<String, Instant>>,
}

/// What the gateway does with one call before moto sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Before {
    /// Wait this long, then forward.
    Forward(Duration),
    /// Wait this long, then answer the service's throttling error.
    Throttle(Duration),
}

impl Realism {
    /// Resources stay invisible to the Describe calls of the code under test this long.
    pub fn set_consistency_lag(&self, lag: Duration) {
        self.settings.lock().unwrap().consistency_lag = lag;
    }

    /// Every call of `action` (`ec2:DeleteFlowLogs`) waits `delay` first.
    pub fn set_latency(&self, action: &str, delay: Duration) {
        self.settings.lock().unwrap().latency.insert(action.to_owned(), delay);
    }

    /// The next `count` calls of `action` are throttled.
    pub fn throttle_next(&self, action: &str, count: usize) {
        self.settings.lock().unwrap().throttles.insert(action.to_owned(), count);
    }

    /// Calls signed with this access key see moto as it is, unthrottled and undelayed.
    pub fn add_observer(&self, access_key: &str) {
        self.settings.lock().unwrap().observers.insert(access_key.to_owned());
    }

    /// How many calls of `action` were throttled so far.
    pub fn throttled(&self, action: &str) -> usize {
        self.settings.lock().unwrap().throttled.get(action).copied().unwrap_or_default()
    }

    /// How many times a young execution or flow log was hidden from the caller that signs with
    /// `access_key` so far (a function's role: each step has its own).
    pub fn hidden_from(&self, access_key: &str) -> usize {
        self.settings.lock().unwrap().hidden.get(access_key).copied().unwrap_or_default()
    }

    fn observes(&self, call: &Call) -> bool {
        call.access_key.as_ref().is_some_and(|key| self.settings.lock().unwrap().observers.contains(key))
    }

    pub fn before(&self, call: &Call) -> Before {
        if self.observes(call) {
            return Before::Forward(Duration::ZERO);
        }
        let mut guard = self.settings.lock().unwrap();
        let settings = &mut *guard;
        let action = call.action();
        let delay = settings.latency.get(&action).copied().unwrap_or_default();
        match settings.throttles.get_mut(&action) {
            Some(left) if *left > 0 => {
                *left -= 1;
                *settings.throttled.entry(action).or_default() += 1;
                Before::Throttle(delay)
            }
            _ => Before::Forward(delay),
        }
    }

    /// Whether `id` was created less than the lag ago, and so is hidden from `call`'s caller
    /// (and counted for it).
    fn young(&self, id: &str, call: &Call) -> bool {
        let mut settings = self.settings.lock().unwrap();
        let lag = settings.consistency_lag;
        let young = self.born.lock().unwrap().get(id).is_some_and(|born| born.elapsed() < lag);
        if young {
            *settings.hidden.entry(call.access_key.clone().unwrap_or_default()).or_default() += 1;
        }
        young
    }

    /// The answer DescribeExecution gives, for a while, about an execution just started.
    pub fn unseen_execution(&self, call: &Call, request: &[u8]) -> Option<String> {
        if !call.is("states:DescribeExecution") || self.observes(call) {
            return None;
        }
        let request: serde_json::Value = serde_json::from_slice(request).ok()?;
        let arn = request["executionArn"].as_str()?;
        self.young(arn, call).then(|| {
            serde_json::json!({"__type": "ExecutionDoesNotExist", "message": format!("Execution Does Not Exist: '{arn}'")})
                .to_string()
        })
    }

    /// Whether the call creates something the lag hides (its response is read for the new ids).
    pub fn creates(call: &Call) -> bool {
        call.is("states:StartExecution") || call.is("ec2:CreateFlowLogs")
    }

    /// Notes the executions and flow logs a successful response names as new.
    pub fn born_in(&self, call: &Call, response: &[u8]) {
        let ids = if call.is("states:StartExecution") {
            serde_json::from_slice::<serde_json::Value>(response)
                .ok()
                .and_then(|r| r["executionArn"].as_str().map(|a| vec![a.to_owned()]))
                .unwrap_or_default()
        } else if call.is("ec2:CreateFlowLogs") {
            let text = String::from_utf8_lossy(response);
            element(&text, "flowLogIdSet")
                .map(|set| items(set).map(|i| i.trim().to_owned()).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let now = Instant::now();
        self.born.lock().unwrap().extend(ids.into_iter().map(|id| (id, now)));
    }

    /// Says whether the response must be read to hide young resources from the caller.
    pub fn hides_from(&self, call: &Call) -> bool {
        call.is("ec2:DescribeFlowLogs") && !self.observes(call)
    }

    /// DescribeFlowLogs' response to `call` without the flow logs created less than the lag ago.
    pub fn without_young_flow_logs(&self, call: &Call, response: &str) -> String {
        let Some(set) = element(response, "flowLogSet") else { return response.to_owned() };
        let kept: String = items(set)
            .filter(|item| element(item, "flowLogId").is_none_or(|id| !self.young(id.trim(), call)))
            .map(|item| format!("<item>{item}</item>"))
            .collect();
        let start = set.as_ptr() as usize - response.as_ptr() as usize;
        format!("{}{kept}{}", &response[..start], &response[start + set.len()..])
    }
}

/// The inside of the first `<name>...</name>` of an XML text (moto's query-protocol answers).
pub fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..end])
}

/// The insides of the top-level `<item>` elements of a set, nested items kept whole.
fn items(set: &str) -> impl Iterator<Item = &str> {
    let mut rest = set;
    std::iter::from_fn(move || {
        let start = rest.find("<item>")? + "<item>".len();
        let mut depth = 1;
        let mut at = start;
        while depth > 0 {
            let open = rest[at..].find("<item>").map(|i| at + i);
            let close = at + rest[at..].find("</item>")?;
            match open {
                Some(open) if open < close => {
                    depth += 1;
                    at = open + "<item>".len();
                }
                _ => {
                    depth -= 1;
                    at = close + "</item>".len();
                }
            }
        }
        let inside = &rest[start..at - "</item>".len()];
        rest = &rest[at..];
        Some(inside)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn signed(service: &str, key: &str, target: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={key}/20240514/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
        );
        headers.insert("authorization", HeaderValue::from_str(&authorization).unwrap());
        if let Some(target) = target {
            headers.insert("x-amz-target", HeaderValue::from_str(target).unwrap());
        }
        headers
    }

    #[test]
    fn calls_are_named_as_iam_names_their_actions() {
        let query =
            Call::identify(&signed("ec2", "ASIAX", None), b"Action=DescribeFlowLogs&Version=2016-11-15").unwrap();
        assert_eq!(query.action(), "ec2:DescribeFlowLogs");
        assert_eq!(query.access_key.as_deref(), Some("ASIAX"));
        let json =
            Call::identify(&signed("states", "AKIAY", Some("AWSStepFunctions.DescribeExecution")), b"{}").unwrap();
        assert_eq!(json.action(), "states:DescribeExecution");
        assert_eq!(Call::identify(&HeaderMap::new(), b"Action=X"), None, "an unsigned call is not named");
    }

    const DESCRIBED: &str = "<DescribeFlowLogsResponse><requestId>r</requestId><flowLogSet>\
        <item><flowLogId>fl-old</flowLogId><tagSet><item><key>k</key><value>v</value></item></tagSet></item>\
        <item><flowLogId>fl-new</flowLogId><tagSet><item><key>k</key><value>v</value></item></tagSet></item>\
        </flowLogSet></DescribeFlowLogsResponse>";

    #[test]
    fn a_flow_log_younger_than_the_lag_is_hidden_with_its_nested_tags() {
        let realism = Realism::default();
        realism.set_consistency_lag(Duration::from_secs(60));
        let create = Call::identify(&signed("ec2", "ASIAX", None), b"Action=CreateFlowLogs").unwrap();
        realism.born_in(
            &create,
            b"<CreateFlowLogsResponse><flowLogIdSet><item>fl-new</item></flowLogIdSet></CreateFlowLogsResponse>",
        );
        let describe = Call::identify(&signed("ec2", "ASIAF", None), b"Action=DescribeFlowLogs").unwrap();
        let shown = realism.without_young_flow_logs(&describe, DESCRIBED);
        assert!(shown.contains("fl-old") && !shown.contains("fl-new"), "{shown}");
        assert!(shown.ends_with("</item></flowLogSet></DescribeFlowLogsResponse>"), "{shown}");
        assert_eq!((realism.hidden_from("ASIAF"), realism.hidden_from("ASIAX")), (1, 0), "counted for its caller");
        realism.set_consistency_lag(Duration::ZERO);
        assert_eq!(realism.without_young_flow_logs(&describe, DESCRIBED), DESCRIBED);
    }

    #[test]
    fn a_young_execution_does_not_exist_yet_except_for_an_observer() {
        let realism = Realism::default();
        realism.set_consistency_lag(Duration::from_secs(60));
        let start = Call::identify(&signed("states", "AKIAT", Some("AWSStepFunctions.StartExecution")), b"{}").unwrap();
        realism.born_in(&start, br#"{"executionArn":"arn:x:1","startDate":1}"#);
        let describe =
            |key| Call::identify(&signed("states", key, Some("AWSStepFunctions.DescribeExecution")), b"").unwrap();
        let request = br#"{"executionArn":"arn:x:1"}"#;
        let answer = realism.unseen_execution(&describe("ASIAF"), request).expect("hidden from the function");
        assert!(answer.contains("ExecutionDoesNotExist") && answer.contains("arn:x:1"), "{answer}");
        assert_eq!(realism.unseen_execution(&describe("ASIAF"), br#"{"executionArn":"arn:x:2"}"#), None);
        realism.add_observer("AKIAT");
        assert_eq!(realism.unseen_execution(&describe("AKIAT"), request), None, "the test sees the truth");
    }

    #[test]
    fn throttles_are_counted_per_action_and_latency_applies_to_each_call() {
        let realism = Realism::default();
        let delete = Call::identify(&signed("ec2", "ASIAX", None), b"Action=DeleteFlowLogs").unwrap();
        realism.throttle_next("ec2:DeleteFlowLogs", 2);
        realism.set_latency("ec2:DeleteFlowLogs", Duration::from_millis(5));
        let outcomes: Vec<Before> = (0..3).map(|_| realism.before(&delete)).collect();
        let five = Duration::from_millis(5);
        assert_eq!(outcomes, [Before::Throttle(five), Before::Throttle(five), Before::Forward(five)]);
        let (status, _, body) = delete.throttled();
        assert_eq!(status, 503);
        assert!(body.contains("<Code>RequestLimitExceeded</Code>"), "{body}");
    }
}
