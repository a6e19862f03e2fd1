//! What the fake Kubernetes API servers of the tests share: their JSON
//! answers, the `Status` object the real API server sends with an error,
//! and the kubeconfig pointing at them.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use serde_json::{Value, json};

pub fn json_response(code: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// A `Status` object, as the API server answers errors.
pub fn status(code: u16, reason: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(
        code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code
        }),
    )
}

/// A kubeconfig for a fake API server at `url`: the context `fake` reaches
/// it; `elsewhere` names a cluster that does not exist, so a test can tell
/// which context was used. `current` is the current context.
pub fn kubeconfig(url: &str, current: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
users:
- name: tester
  user:
    token: not-a-secret
contexts:
- name: elsewhere
  context:
    cluster: gone
    user: tester
- name: fake
  context:
    cluster: fake
    user: tester
current-context: {current}
"
    )
}
