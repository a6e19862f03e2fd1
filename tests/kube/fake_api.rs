//! A Kubernetes API server written for the tests: plain HTTP on loopback,
//! speaking the real REST paths and JSON of the namespaced resources
//! helmsman uses: v1 Services and Pods, apps/v1 Deployments and
//! gateway.networking.k8s.io/v1 HTTPRoutes (GET, LIST with a label
//! selector, and PUT with resourceVersion: a stale write answers 409
//! Conflict as the real one does). A Deployment "rolls out" over two
//! reads: the first after a change shows it in progress, the next done;
//! one started with `start_rolling` is rolled pod by pod instead
//! (fake_controller.rs). coordination.k8s.io/v1 Leases are also created
//! (POST to the collection: 201, or 409 AlreadyExists).
//! Faults can be queued: the next matching requests answer 403, 409 or 500,
//! or hang. The service proxy (`services/{name}:{port}/proxy/…`) answers
//! 503 "no endpoints" as the real one does when the Service selects no
//! ready pod (of a Deployment here), else what the test set for that
//! Service (200 "ok" by default). A kubeconfig pointing at it is written beside it; its current
//! context is a broken one, so only the context `fake` works.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api_status::{self, json_response, status};
use crate::fake_controller::Controller;

pub const NAMESPACE: &str = "shop";

/// How a faulty request is answered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    Status(u16),
    Hang,
}

/// The next `times` requests with `method` on `plural` answer `answer`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Method,
    pub plural: &'static str,
    pub answer: Answer,
    pub times: u32,
}

#[derive(Default)]
struct Cluster {
    /// By (plural, name), in the one namespace.
    objects: BTreeMap<(String, String), Value>,
    resource_version: u64,
    faults: Vec<Fault>,
    /// "PUT deployments/checkout-canary", in order, faults included.
    log: Vec<String>,
    /// Every object written, in order, as (plural, name, object).
    writes: Vec<(String, String, Value)>,
    /// What a Service's pods answer through the proxy, by Service name.
    proxy_status: BTreeMap<String, u16>,
    controller: Controller,
}

pub struct FakeApi {
    cluster: Arc<Mutex<Cluster>>,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    /// A cluster with the stable Deployment at `stable_version` (3
    /// replicas), the canary at 0 replicas, and an HTTPRoute sending
    /// everything to the stable Service.
    pub async fn start(stable_version: &str) -> FakeApi {
        FakeApi::start_with(vec![
            deployment("checkout-stable", stable_version, 3),
            deployment("checkout-canary", stable_version, 0),
            route(),
        ])
        .await
    }

    /// A cluster holding `objects` (each with its `kind`).
    pub async fn start_with(objects: Vec<Value>) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cluster = Arc::new(Mutex::new(Cluster::default()));
        {
            let mut c = cluster.lock().unwrap();
            for object in objects {
                c.create(object);
            }
        }
        let served = cluster.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let cluster = served.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let cluster = cluster.clone();
                    async move { Ok::<_, Infallible>(answer(&cluster, request).await) }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, api_status::kubeconfig(&url, "elsewhere")).unwrap();
        FakeApi {
            cluster,
            task,
            _dir: dir,
            kubeconfig,
        }
    }

    /// A cluster with one Deployment `checkout` of `replicas` pods running
    /// `version`, all Ready, rolled pod by pod (fake_controller.rs).
    pub async fn start_rolling(version: &str, replicas: u32) -> FakeApi {
        let mut d = deployment("checkout", version, replicas);
        d["spec"]["selector"]["matchLabels"] = json!({ "app": "checkout" });
        d["spec"]["template"]["metadata"]["labels"] = json!({ "app": "checkout" });
        d["spec"]["strategy"] = json!({ "type": "RollingUpdate",
            "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" } });
        d["spec"]["progressDeadlineSeconds"] = json!(600);
        d["status"] = json!({});
        let api = FakeApi::start_with(vec![d]).await;
        {
            let mut c = api.cluster.lock().unwrap();
            c.controller.manage("checkout");
            // Create the pods, start them, report it all.
            for _ in 0..4 {
                c.read(&("deployments".to_string(), "checkout".to_string()));
            }
        }
        api
    }

    /// Containers with `image` crash-loop from now on: never Ready.
    pub fn never_ready(&self, image: &str) {
        self.cluster.lock().unwrap().controller.never_ready(image);
    }

    /// The pods of the cluster, by name.
    pub fn pods(&self) -> Vec<Value> {
        let c = self.cluster.lock().unwrap();
        c.objects
            .iter()
            .filter(|((plural, _), _)| plural == "pods")
            .map(|(_, pod)| pod.clone())
            .collect()
    }

    /// Adds an object (with its `kind`) as another client would.
    #[allow(dead_code)] // tests/kube_lease.rs
    pub fn add(&self, object: Value) {
        self.cluster.lock().unwrap().create(object);
    }

    pub fn fail(&self, fault: Fault) {
        self.cluster.lock().unwrap().faults.push(fault);
    }

    pub fn log(&self) -> Vec<String> {
        self.cluster.lock().unwrap().log.clone()
    }

    /// The pods behind `service` answer `code` through the proxy.
    #[allow(dead_code)] // tests/kube_blue_green.rs
    pub fn proxy_answers(&self, service: &str, code: u16) {
        let mut c = self.cluster.lock().unwrap();
        c.proxy_status.insert(service.to_string(), code);
    }

    /// Every version of `plural`/`name` written through the API, in order.
    #[allow(dead_code)] // tests/kube_blue_green.rs
    pub fn writes_of(&self, plural: &str, name: &str) -> Vec<Value> {
        let c = self.cluster.lock().unwrap();
        c.writes
            .iter()
            .filter(|(p, n, _)| p == plural && n == name)
            .map(|(_, _, object)| object.clone())
            .collect()
    }

    pub fn get(&self, plural: &str, name: &str) -> Value {
        self.cluster.lock().unwrap().objects[&(plural.to_string(), name.to_string())].clone()
    }

    /// Changes an object behind helmsman's back (as `kubectl edit` would).
    pub fn edit(&self, plural: &str, name: &str, change: impl FnOnce(&mut Value)) {
        let mut c = self.cluster.lock().unwrap();
        c.resource_version += 1;
        let rv = c.resource_version.to_string();
        let object = c
            .objects
            .get_mut(&(plural.to_string(), name.to_string()))
            .unwrap();
        change(object);
        object["metadata"]["resourceVersion"] = json!(rv);
    }

    /// (stable weight, canary weight) of the route's first rule.
    pub fn weights(&self) -> (u64, u64) {
        let refs = self.get("httproutes", "checkout")["spec"]["rules"][0]["backendRefs"].clone();
        let weight = |name: &str| {
            refs.as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == name)
                .map_or(0, |r| r["weight"].as_u64().unwrap_or(1))
        };
        (weight("checkout-stable"), weight("checkout-canary"))
    }

    /// (image, spec.replicas) of a Deployment.
    pub fn deployment(&self, name: &str) -> (String, u64) {
        let d = self.get("deployments", name);
        (
            d["spec"]["template"]["spec"]["containers"][1]["image"]
                .as_str()
                .unwrap()
                .to_string(),
            d["spec"]["replicas"].as_u64().unwrap(),
        )
    }
}

impl Cluster {
    fn create(&mut self, mut object: Value) {
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        object["metadata"]["namespace"] = json!(NAMESPACE);
        let plural = match object["kind"].as_str().unwrap() {
            "Deployment" => "deployments",
            "Service" => "services",
            "Pod" => "pods",
            "HTTPRoute" => "httproutes",
            "Lease" => "leases",
            other => panic!("the fake API does not serve {other}"),
        };
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        self.objects.insert((plural.to_string(), name), object);
    }

    /// Creates a `plural` object sent to the collection; one of that
    /// name is there already: the real server's AlreadyExists message.
    fn post(&mut self, plural: &str, mut sent: Value) -> Result<Value, String> {
        let name = sent["metadata"]["name"].as_str().unwrap_or("").to_string();
        let key = (plural.to_string(), name.clone());
        if self.objects.contains_key(&key) {
            return Err(format!("{plural} \"{name}\" already exists"));
        }
        self.resource_version += 1;
        sent["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        sent["metadata"]["namespace"] = json!(NAMESPACE);
        self.writes
            .push((key.0.clone(), key.1.clone(), sent.clone()));
        self.objects.insert(key, sent.clone());
        Ok(sent)
    }

    /// The first queued fault matching the request, used up once.
    fn fault(&mut self, method: &Method, plural: &str) -> Option<Answer> {
        let at = self
            .faults
            .iter()
            .position(|f| f.method == *method && f.plural == plural)?;
        let fault = &mut self.faults[at];
        let answer = fault.answer;
        fault.times -= 1;
        if fault.times == 0 {
            self.faults.remove(at);
        }
        Some(answer)
    }

    /// The `plural` objects whose labels match every pair, as a List.
    fn list(&mut self, plural: &str, selector: &[(String, String)]) -> Value {
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((p, _), object)| {
                p == plural
                    && selector
                        .iter()
                        .all(|(k, v)| object["metadata"]["labels"][k] == v.as_str())
            })
            .map(|(_, object)| object.clone())
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": { "resourceVersion": self.resource_version.to_string() },
            "items": items,
        })
    }

    fn read(&mut self, key: &(String, String)) -> Option<Value> {
        if key.0 == "deployments" && self.controller.manages(&key.1) {
            self.objects.get(key)?;
            self.controller
                .sync(&mut self.objects, &key.1, &mut self.resource_version);
            return self.objects.get(key).cloned();
        }
        let object = self.objects.get_mut(key)?;
        if key.0 == "deployments" {
            roll_out(object);
        }
        Some(object.clone())
    }

    fn write(&mut self, key: (String, String), mut sent: Value) -> Result<Value, (u16, String)> {
        let Some(current) = self.objects.get(&key) else {
            return Err((404, format!("{} \"{}\" not found", key.0, key.1)));
        };
        let current_rv = &current["metadata"]["resourceVersion"];
        if sent["metadata"]["resourceVersion"] != *current_rv {
            return Err((
                409,
                format!(
                    "Operation cannot be fulfilled on {} \"{}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    key.0, key.1
                ),
            ));
        }
        self.resource_version += 1;
        sent["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        if key.0 == "deployments" {
            // The server owns status and bumps generation on spec changes.
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
            let changed = sent["spec"] != current["spec"];
            sent["status"] = current["status"].clone();
            sent["metadata"]["generation"] = json!(generation + i64::from(changed));
        }
        self.writes
            .push((key.0.clone(), key.1.clone(), sent.clone()));
        self.objects.insert(key, sent.clone());
        Ok(sent)
    }

    /// The real proxy forwards to a ready endpoint of the Service: here,
    /// a Deployment whose pods the selector matches and that has ready
    /// replicas. `target` is `name:port`, the port by name or number.
    fn proxy(&mut self, target: &str, path: &str) -> Response<Full<Bytes>> {
        self.log.push(format!("GET services/{target}/proxy{path}"));
        let (name, port) = target.split_once(':').unwrap_or((target, ""));
        let Some(service) = self
            .objects
            .get(&("services".to_string(), name.to_string()))
        else {
            return status(404, "NotFound", &format!("services \"{name}\" not found"));
        };
        let no_endpoints = status(
            503,
            "ServiceUnavailable",
            &format!("no endpoints available for service \"{target}\""),
        );
        let ports = service["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let port_known = port.is_empty()
            || ports
                .iter()
                .any(|p| p["name"] == port || port.parse::<u64>().ok() == p["port"].as_u64());
        if !port_known {
            return no_endpoints;
        }
        let selector = service["spec"]["selector"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let ready = self.objects.iter().any(|((plural, _), d)| {
            plural == "deployments"
                && !selector.is_empty()
                && selector
                    .iter()
                    .all(|(k, v)| d["spec"]["template"]["metadata"]["labels"][k] == *v)
                && d["status"]["readyReplicas"].as_i64().unwrap_or(0) > 0
        });
        if !ready {
            return no_endpoints;
        }
        let code = self.proxy_status.get(name).copied().unwrap_or(200);
        Response::builder()
            .status(code)
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from(if code < 300 {
                "ok"
            } else {
                "unavailable"
            })))
            .unwrap()
    }
}

/// One step of the fake controller per read: first it observes the new
/// generation with nothing updated yet, then every replica is updated and
/// available.
fn roll_out(d: &mut Value) {
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(1);
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let observed = d["status"]["observedGeneration"].as_i64().unwrap_or(0);
    let status = if observed < generation {
        json!({ "observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": 0, "readyReplicas": 0, "availableReplicas": 0 })
    } else {
        json!({ "observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": replicas, "readyReplicas": replicas,
                "availableReplicas": replicas })
    };
    d["status"] = status;
}

async fn answer(cluster: &Mutex<Cluster>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path…}
    if let [
        "api",
        "v1",
        "namespaces",
        NAMESPACE,
        "services",
        target,
        "proxy",
        ..,
    ] = segments.as_slice()
    {
        if method != Method::GET {
            return status(405, "MethodNotAllowed", "only GET is proxied here");
        }
        let rest = path.split_once("/proxy").map_or("", |(_, rest)| rest);
        return cluster.lock().unwrap().proxy(target, rest);
    }
    // /api/v1/namespaces/{ns}/{plural}[/{name}] (the core group) and
    // /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}]
    let (plural, name) = match segments.as_slice() {
        [
            "api",
            "v1",
            "namespaces",
            NAMESPACE,
            plural @ ("services" | "pods"),
            rest @ ..,
        ]
        | [
            "apis",
            "apps",
            "v1",
            "namespaces",
            NAMESPACE,
            plural @ "deployments",
            rest @ ..,
        ]
        | [
            "apis",
            "gateway.networking.k8s.io",
            "v1",
            "namespaces",
            NAMESPACE,
            plural @ "httproutes",
            rest @ ..,
        ]
        | [
            "apis",
            "coordination.k8s.io",
            "v1",
            "namespaces",
            NAMESPACE,
            plural @ "leases",
            rest @ ..,
        ] if rest.len() <= 1 => (plural.to_string(), rest.first().map(|n| n.to_string())),
        _ => return status(404, "NotFound", &format!("no route for {path}")),
    };
    let Some(name) = name else {
        if method == Method::POST && plural == "leases" {
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let Ok(sent) = serde_json::from_slice::<Value>(&body) else {
                return status(400, "BadRequest", "invalid JSON");
            };
            let mut c = cluster.lock().unwrap();
            let name = sent["metadata"]["name"].as_str().unwrap_or("").to_string();
            c.log.push(format!("POST {plural}/{name}"));
            if let Some(refusal) = c
                .fault(&method, &plural)
                .and_then(|a| refusal(a, &plural, &name))
            {
                return refusal;
            }
            return match c.post(&plural, sent) {
                Ok(object) => json_response(201, &object),
                Err(message) => status(409, "AlreadyExists", &message),
            };
        }
        if method != Method::GET {
            return status(
                405,
                "MethodNotAllowed",
                &format!("{method} on a collection"),
            );
        }
        let selector = label_selector(request.uri().query().unwrap_or(""));
        let mut c = cluster.lock().unwrap();
        c.log.push(format!("LIST {plural}"));
        if let Some(refusal) = c
            .fault(&method, &plural)
            .and_then(|a| refusal(a, &plural, "*"))
        {
            return refusal;
        }
        return json_response(200, &c.list(&plural, &selector));
    };
    let fault = {
        let mut c = cluster.lock().unwrap();
        c.log.push(format!("{method} {plural}/{name}"));
        c.fault(&method, &plural)
    };
    match fault {
        Some(Answer::Hang) => std::future::pending().await,
        Some(answer) => {
            if let Some(refusal) = refusal(answer, &plural, &name) {
                return refusal;
            }
        }
        None => {}
    }
    let key = (plural, name);
    if method == Method::GET {
        return match cluster.lock().unwrap().read(&key) {
            Some(object) => json_response(200, &object),
            None => status(
                404,
                "NotFound",
                &format!("{} \"{}\" not found", key.0, key.1),
            ),
        };
    }
    if method == Method::PUT {
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let Ok(sent) = serde_json::from_slice::<Value>(&body) else {
            return status(400, "BadRequest", "invalid JSON");
        };
        return match cluster.lock().unwrap().write(key, sent) {
            Ok(object) => json_response(200, &object),
            Err((409, message)) => status(409, "Conflict", &message),
            Err((code, message)) => status(code, "NotFound", &message),
        };
    }
    status(
        405,
        "MethodNotAllowed",
        &format!("{method} is not served here"),
    )
}

/// How a queued fault (other than a hang) is answered.
fn refusal(answer: Answer, plural: &str, name: &str) -> Option<Response<Full<Bytes>>> {
    match answer {
        Answer::Hang => None,
        Answer::Status(403) => Some(status(
            403,
            "Forbidden",
            &format!(
                "{plural} \"{name}\" is forbidden: User \"tester\" cannot access resource \
                 \"{plural}\" in the namespace \"{NAMESPACE}\""
            ),
        )),
        Answer::Status(409) => Some(status(409, "Conflict", "the object has been modified")),
        Answer::Status(code) => Some(status(code, "InternalError", "etcdserver: timeout")),
    }
}

/// `labelSelector=a%3Db,c%3Dd` (equality terms only) as pairs.
fn label_selector(query: &str) -> Vec<(String, String)> {
    let Some(value) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("labelSelector="))
    else {
        return Vec::new();
    };
    let decoded = value
        .replace("%3D", "=")
        .replace("%3d", "=")
        .replace("%2C", ",")
        .replace("%2c", ",");
    decoded
        .split(',')
        .filter_map(|term| term.split_once('='))
        .map(|(k, v)| (k.trim_end_matches('=').to_string(), v.to_string()))
        .collect()
}

/// A Deployment with a sidecar first, so `container = "app"` matters.
fn deployment(name: &str, version: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "generation": 1, "labels": { "app": "checkout" } },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": "checkout", "track": name } },
            "template": {
                "metadata": { "labels": { "app": "checkout", "track": name } },
                "spec": { "containers": [
                    { "name": "proxy", "image": "envoyproxy/envoy:v1.31" },
                    { "name": "app", "image": format!("registry.example.com/checkout:{version}") }
                ] }
            }
        },
        "status": { "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": replicas, "availableReplicas": replicas }
    })
}

/// A blue-green slot: a Deployment whose pods carry `slot: <slot>`.
#[allow(dead_code)] // tests/kube_blue_green.rs
pub fn slot_deployment(name: &str, slot: &str, version: &str, replicas: u32) -> Value {
    let mut d = deployment(name, version, replicas);
    d["spec"]["selector"]["matchLabels"]["slot"] = json!(slot);
    d["spec"]["template"]["metadata"]["labels"]["slot"] = json!(slot);
    d
}

/// A ClusterIP Service selecting the `slot` pods of checkout, on a named port.
#[allow(dead_code)] // tests/kube_blue_green.rs
pub fn slot_service(name: &str, slot: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name, "labels": { "app": "checkout" } },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.12",
            "selector": { "app": "checkout", "slot": slot },
            "ports": [{ "name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP" }]
        },
        "status": { "loadBalancer": {} }
    })
}

/// The route before any release: everything on stable, with fields
/// helmsman must write back untouched.
fn route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "name": "checkout", "annotations": { "team": "payments" } },
        "spec": {
            "parentRefs": [{ "name": "public", "namespace": "gateways" }],
            "hostnames": ["shop.example.com"],
            "rules": [{
                "matches": [{ "path": { "type": "PathPrefix", "value": "/" } }],
                "timeouts": { "request": "10s" },
                "backendRefs": [{ "name": "checkout-stable", "port": 8080, "weight": 100 }]
            }]
        },
        "status": { "parents": [] }
    })
}
