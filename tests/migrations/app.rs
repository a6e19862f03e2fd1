//! The small service the migration tests release: each version answers
//! every request from the database, as a real one would. Version `v1`
//! reads `users.name`; version `v2` reads the `display_name` that expand
//! adds, falling back to `upper(name)` until the backfill filled it (new
//! code that runs against the expanded schema before the backfill). After
//! contract drops `name`, only `v2` works: the old version must be
//! retired first. A query that fails answers 500. `/healthz` says the
//! process is up, without the database: both versions run before expand,
//! and the data plane probes them from its start.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub struct App {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    pub async fn start(url: &str, version: &'static str) -> App {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("the test database answers");
        tokio::spawn(connection);
        let client = Arc::new(client);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let client = client.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let client = client.clone();
                        async move {
                            if req.uri().path() == "/healthz" {
                                return Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                                    "ok\n",
                                ))));
                            }
                            Ok(answer(&client, version).await)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        App { addr, task }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(client: &tokio_postgres::Client, version: &str) -> Response<Full<Bytes>> {
    let query = match version {
        "v1" => "SELECT name FROM users WHERE id = 1",
        _ => "SELECT display_name FROM users WHERE id = 1",
    };
    let mut read = client
        .query_one(query, &[])
        .await
        .map(|row| row.get::<_, Option<String>>(0));
    if matches!(read, Ok(None)) {
        read = client
            .query_one("SELECT upper(name) FROM users WHERE id = 1", &[])
            .await
            .map(|row| row.get(0));
    }
    let (status, body) = match read {
        Ok(name) => (200, format!("{version} {}\n", name.unwrap_or_default())),
        Err(e) => (500, format!("{version}: {e}\n")),
    };
    Response::builder()
        .status(status)
        .header("x-version", version)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}
