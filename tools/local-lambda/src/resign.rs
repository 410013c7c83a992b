//! moto checks a query-protocol call's signature (EC2, SNS, IAM, STS) against the body *it*
//! re-encodes from the parsed form, the way botocore would: spaces as `+`, where the Rust SDK
//! sends `%20`. Every such call with a space in it (a flow-log format, an email) would then fail
//! as a bad signature. So the gateway, which knows the credentials the harness handed out,
//! encodes such a body as botocore would and signs it again as the same caller. Who the caller
//! is, and so what IAM lets it do, does not change.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;

use crate::gateway::percent_decode;
use crate::realism::Call;

/// The secrets of the callers the gateway may sign for, by access key.
#[derive(Default)]
pub struct Signer {
    secrets: RwLock<HashMap<String, Credentials>>,
    /// Callers whose calls run as someone else (moto's interpreter signs with a fixed key).
    stand_ins: RwLock<HashMap<String, String>>,
}

fn is_form(parts: &Parts) -> bool {
    parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

impl Signer {
    /// The gateway may sign for this caller.
    pub fn trust(&self, access_key: &str, secret: &str, session_token: Option<&str>) {
        let credentials = Credentials::new(access_key, secret, session_token.map(str::to_owned), None, "local");
        self.secrets.write().unwrap().insert(access_key.to_owned(), credentials);
    }

    /// Calls signed with `access_key` run as the trusted caller `as_key` instead.
    pub fn stand_in(&self, access_key: &str, as_key: &str) {
        self.stand_ins.write().unwrap().insert(access_key.to_owned(), as_key.to_owned());
    }

    /// Signs the call again when its caller is known: a form body encoded as botocore would,
    /// a stand-in's call as the caller it stands for, and a body the gateway `rewrote` (a
    /// protocol moto does not speak, translated) always. `None` leaves the request as it came.
    pub fn resign(&self, parts: &mut Parts, call: &Call, body: &[u8], rewrote: bool) -> Result<Option<Bytes>, String> {
        let Some(key) = &call.access_key else { return Ok(None) };
        let stand_in = self.stand_ins.read().unwrap().get(key).cloned();
        let form = is_form(parts);
        if stand_in.is_none() && !form && !rewrote {
            return Ok(None);
        }
        let key = stand_in.as_ref().unwrap_or(key);
        let Some(credentials) = self.secrets.read().unwrap().get(key).cloned() else {
            return if rewrote { Err(format!("the gateway holds no secret for {key}")) } else { Ok(None) };
        };
        let body = if form {
            Bytes::from(botocore_form(&String::from_utf8_lossy(body)))
        } else {
            Bytes::copy_from_slice(body)
        };
        for name in ["authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"] {
            parts.headers.remove(name);
        }
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        let identity = credentials.into();
        let settings = SigningSettings::default();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&call.region)
            .name(&call.service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let uri = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            parts.method.as_str(),
            uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        let (headers, _) = instructions.into_parts();
        for header in headers {
            let value = HeaderValue::from_str(header.value()).map_err(|e| e.to_string())?;
            parts.headers.insert(header.name(), value);
        }
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Err("signing added no Authorization header".into());
        }
        Ok(Some(body))
    }
}

/// A form body as Python's `urlencode` writes it: every byte but letters, digits and `_.-~`
/// percent-encoded, spaces as `+`.
fn botocore_form(body: &str) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => (b as char).to_string(),
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    // The SDK writes a literal `+` as %2B, so a bare `+` can only be a space.
    let decode = |text: &str| percent_decode(&text.replace('+', " "));
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            format!("{}={}", encode(&decode(key)), encode(&decode(value)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_is_encoded_as_botocore_encodes_it() {
        let sdk = "Action=CreateFlowLogs&LogFormat=%24%7Bversion%7D%20%24%7Bsrcaddr%7D&LogGroupName=%2Fg%2Fx&A=1%2B1";
        assert_eq!(
            botocore_form(sdk),
            "Action=CreateFlowLogs&LogFormat=%24%7Bversion%7D+%24%7Bsrcaddr%7D&LogGroupName=%2Fg%2Fx&A=1%2B1"
        );
        assert_eq!(botocore_form("Message=caf%C3%A9%0Aok"), "Message=caf%C3%A9%0Aok");
    }
}
