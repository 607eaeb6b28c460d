//! `TestApp`: the real portal on a random port, on its own database (a temporary SQLite file or
//! a fresh PostgreSQL database), seeded with the demo accounts, with a clock the test moves.

use jiff::{SignedDuration, Timestamp};
use portal::settings::Settings;
use portal_app::demo::{DemoAccount, DemoAccounts};
use portal_app::{App, Clock, FixedClock, totp};
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use portal_store::testdb::TestDatabase;
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use std::sync::Arc;

/// Runs the test body once per backend; PostgreSQL only when `PORTAL_TEST_POSTGRES` is set.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(portal_store::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(portal_store::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A running portal for one test.
pub struct TestApp {
    /// Base URL, e.g. http://127.0.0.1:40123.
    pub url: String,
    /// The operators' metrics listener.
    pub metrics_url: String,
    /// The application (to reach the store and services directly).
    pub app: App,
    /// The clock the portal runs on.
    pub clock: Arc<FixedClock>,
    /// The demo accounts and records.
    pub demo: DemoAccounts,
    /// The data directory (mail files land in `mail/`).
    #[allow(dead_code)] // read by the tests that look at e-mail files
    pub data_dir: tempfile::TempDir,
    db: Option<TestDatabase>,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// The instant every test starts at.
pub fn start_time() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("valid time")
}

fn settings(data_dir: &std::path::Path, database: &str) -> Settings {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        settings: Settings,
    }
    let mut s = Wrapper::parse_from(["portal"]).settings;
    s.data_dir = data_dir.to_path_buf();
    s.database = Some(database.parse().expect("infallible"));
    s.max_connections = 5;
    s.metrics_listen = "127.0.0.1:0".into();
    s
}

/// A second portal on a test's database (see [`TestApp::another_portal`]).
#[allow(dead_code)]
pub struct AnotherPortal {
    /// Base URL.
    pub url: String,
    /// Its application.
    pub app: App,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

#[allow(dead_code)]
impl AnotherPortal {
    /// Stops it and closes its connections.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        self.app.store().close().await;
    }
}

impl TestApp {
    /// Starts the portal on `backend`; `None` when that backend is not configured for tests.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        let db = TestDatabase::create(backend)
            .await
            .expect("test database")?;
        let data_dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut settings = settings(data_dir.path(), &db.url);
        // The portal's address is the one it serves at (links, the FHIR base apps name).
        settings.public_url = url.clone();
        let clock = Arc::new(FixedClock::new(start_time()));
        let store = portal::open_store(&settings, clock.as_ref())
            .await
            .expect("store");
        let app = portal::build_app(&settings, store, clock.clone())
            .await
            .expect("app");
        let demo = app.seed_demo().await.expect("demo data");
        let metrics = portal::bind_metrics(&settings)
            .await
            .expect("metrics listener")
            .expect("metrics on");
        let metrics_url = format!("http://{}", metrics.local_addr().expect("addr"));
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let server_app = app.clone();
        let server = tokio::spawn(async move {
            portal::serve(&settings, server_app, listener, Some(metrics), rx)
                .await
                .expect("serve");
        });
        Some(TestApp {
            url,
            metrics_url,
            app,
            clock,
            demo,
            data_dir,
            db: Some(db),
            shutdown,
            server,
        })
    }

    /// A second portal on this one's database, data directory and clock, as a second process
    /// would be: its own connection pool, audit writer and mail worker, serving on its own
    /// port. Stop it before this one.
    #[allow(dead_code)] // used by the tests of work shared by several processes
    pub async fn another_portal(&self) -> AnotherPortal {
        let db = self.db.as_ref().expect("the test database");
        let settings = settings(self.data_dir.path(), &db.url);
        let store = portal::open_store(&settings, self.clock.as_ref())
            .await
            .expect("store");
        let app = portal::build_app(&settings, store, self.clock.clone())
            .await
            .expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let server_app = app.clone();
        let server = tokio::spawn(async move {
            portal::serve(&settings, server_app, listener, None, rx)
                .await
                .expect("serve");
        });
        AnotherPortal {
            url,
            app,
            shutdown,
            server,
        }
    }

    /// Stops the server and drops the test database.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let _ = (&mut self.server).await;
        self.app.store().close().await;
        if let Some(db) = self.db.take() {
            db.cleanup().await.expect("drop test database");
        }
    }

    /// A browser-like client with its own cookie jar that does not follow redirects.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .user_agent("portal-tests")
            .build()
            .expect("client")
    }

    /// The demo account of `role`.
    pub fn account(&self, role: Role) -> &DemoAccount {
        self.demo
            .accounts
            .iter()
            .find(|a| a.role == role)
            .expect("demo account")
    }

    /// A demo record's id by name ("Sofia Martinez", "Leo Martinez", "Marcus Chen").
    pub fn patient(&self, name: &str) -> PatientId {
        self.demo
            .patients
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
            .expect("demo record")
    }

    /// Moves the portal's clock.
    pub fn advance(&self, by: SignedDuration) {
        self.clock.advance(by);
    }

    /// The current TOTP code for a base32 secret at the portal's time.
    pub fn totp_code(&self, secret_b32: &str) -> String {
        let secret = data_encoding::BASE32_NOPAD
            .decode(secret_b32.as_bytes())
            .expect("base32");
        totp::code_for_step(&secret, totp::step_at(self.clock.now()))
    }

    /// GET a path.
    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET")
    }

    /// The CSRF token of the form on the page at `path`.
    pub async fn csrf_from(&self, client: &Client, path: &str) -> String {
        let html = self.get(client, path).await.text().await.expect("body");
        csrf_in(&html).unwrap_or_else(|| panic!("no CSRF field on {path}"))
    }

    /// POST a form to `path`, with the CSRF token taken from the page at `form_page`.
    pub async fn post_form(
        &self,
        client: &Client,
        form_page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let csrf = self.csrf_from(client, form_page).await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &csrf));
        client
            .post(format!("{}{path}", self.url))
            .form(&all)
            .send()
            .await
            .expect("POST")
    }

    /// Sends a form with files (`multipart/form-data`) as the page at `form_page` would:
    /// its CSRF token first, then `fields`, then each file under the field name "files".
    #[allow(dead_code)]
    pub async fn post_files(
        &self,
        client: &Client,
        form_page: &str,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &[u8])],
    ) -> Response {
        let csrf = self.csrf_from(client, form_page).await;
        let boundary = "----PortalTestBoundary7MA4YWxkTrZu0gW";
        let mut body: Vec<u8> = Vec::new();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        for (name, value) in all {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        for (file_name, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
                     filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        client
            .post(format!("{}{path}", self.url))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("POST")
    }

    /// Sends the activation form.
    #[allow(dead_code)]
    pub async fn activate(
        &self,
        client: &Client,
        code: &str,
        birth_date: &str,
        email: &str,
        password: &str,
    ) -> Response {
        self.post_form(
            client,
            "/activate",
            "/activate",
            &[
                ("code", code),
                ("birth_date", birth_date),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Chooses a password through a reset or set-up link's path (`/reset/<token>`).
    #[allow(dead_code)]
    pub async fn choose_password(&self, client: &Client, link: &str, password: &str) -> Response {
        self.post_form(client, link, link, &[("new_password", password)])
            .await
    }

    /// Asks for break-glass access to the record with `mrn` from the patients page.
    #[allow(dead_code)]
    pub async fn break_glass(&self, client: &Client, mrn: &str, reason: &str) -> Response {
        self.post_form(
            client,
            "/patients",
            "/patients/break-glass",
            &[("mrn", mrn), ("reason", reason)],
        )
        .await
    }

    /// Disables or enables (`status`) the account `user_id` from the admin's Users page.
    #[allow(dead_code)]
    pub async fn set_account_status(&self, admin: &Client, user_id: &str, status: &str) {
        let r = self
            .post_form(
                admin,
                "/admin/users",
                &format!("/admin/users/{user_id}/status"),
                &[("status", status)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "status {status}");
    }

    /// A new API token for a system client that may write records.
    #[allow(dead_code)]
    pub async fn write_token(&self) -> String {
        self.app
            .accounts()
            .create_api_token(&portal_app::Actor::operator(), "Test EHR", "system/*.write")
            .await
            .expect("token")
            .token
    }

    /// Signs in `role`'s demo account through both steps; returns the signed-in client.
    pub async fn sign_in(&self, role: Role) -> Client {
        let client = self.client();
        let account = self.account(role).clone();
        let r = self
            .post_form(
                &client,
                "/signin",
                "/signin",
                &[("email", &account.email), ("password", &account.password)],
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "password step for {role}"
        );
        assert_eq!(location(&r), "/signin/second-factor");
        // Each code is accepted once: move to a fresh time step for every sign-in.
        self.advance(SignedDuration::from_secs(30));
        let code = self.totp_code(&account.totp_secret);
        let r = self
            .post_form(
                &client,
                "/signin/second-factor",
                "/signin/second-factor",
                &[("code", &code)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "second step for {role}");
        client
    }

    /// Rows in a table (to prove a refused request wrote nothing).
    #[allow(dead_code)]
    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(self.app.store().pool())
            .await
            .expect("count")
            .try_get("n")
            .expect("n")
    }
}

/// The value of the first `name="csrf"` field in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// The Location header of a redirect.
pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The real `portal serve` as a child process on a test's database, for attacks that could take
/// a process down (a crash in it must not abort the test binary) and for reading its memory.
pub struct ChildPortal {
    /// Base URL.
    pub url: String,
    child: std::process::Child,
    log: Arc<std::sync::Mutex<String>>,
}

impl ChildPortal {
    /// Starts `portal serve` on `t`'s database and data directory, with `extra` flags before the
    /// command, and waits until it listens.
    pub async fn serve(t: &TestApp, extra: &[&str]) -> ChildPortal {
        Self::serve_logging(t, extra, "info").await
    }

    /// [`ChildPortal::serve`] with the log filter `log` (e.g. "debug").
    pub async fn serve_logging(t: &TestApp, extra: &[&str], log: &str) -> ChildPortal {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let database = crate::import::database_url(t).await;
        let mut child = Command::new(env!("CARGO_BIN_EXE_portal"))
            .arg("--data-dir")
            .arg(t.data_dir.path())
            .arg("--database")
            .arg(database)
            .args(["--metrics-listen", "off"])
            .args(extra)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("PORTAL_LOG", log)
            .env("PORTAL_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start portal serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let (found, address) = std::sync::mpsc::channel();
        let kept = log.clone();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                const FIELD: &str = "\"address\":\"";
                if let Some(at) = line
                    .find(FIELD)
                    .filter(|_| line.contains("portal listening"))
                {
                    let address: String = line[at + FIELD.len()..]
                        .chars()
                        .take_while(|c| *c != '"')
                        .collect();
                    if let Some(found) = found.take() {
                        let _ = found.send(address);
                    }
                }
                if let Ok(mut log) = kept.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let address = tokio::task::spawn_blocking(move || {
            address.recv_timeout(std::time::Duration::from_secs(60))
        })
        .await
        .expect("join")
        .expect("portal serve did not start listening");
        ChildPortal {
            url: format!("http://{address}"),
            child,
            log,
        }
    }

    /// Kills the process at once (SIGKILL: no shutdown, no flushing) and waits for it to go.
    #[allow(dead_code)] // used by the audit tests
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process's peak resident memory in bytes (VmHWM).
    #[allow(dead_code)] // read by the memory tests
    pub fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM")
            * 1024
    }

    /// What the process has logged so far.
    #[allow(dead_code)] // read by the log tests
    pub fn log(&self) -> String {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

impl Drop for ChildPortal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A transaction Bundle that POSTs each resource under its fullUrl, in the order given.
pub fn transaction(
    entries: impl IntoIterator<Item = (String, serde_json::Value)>,
) -> serde_json::Value {
    let entry: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|(full_url, resource)| {
            let kind = resource["resourceType"].clone();
            serde_json::json!({"fullUrl": full_url, "resource": resource,
                               "request": {"method": "POST", "url": kind}})
        })
        .collect();
    serde_json::json!({"resourceType": "Bundle", "type": "transaction", "entry": entry})
}

/// The fixture folder: the full shared set when `PORTAL_FHIR_FIXTURES` is set (it must then
/// exist), otherwise the copies in the repository.
#[allow(dead_code)]
pub fn fixture_dir() -> std::path::PathBuf {
    match std::env::var("PORTAL_FHIR_FIXTURES") {
        Ok(dir) if !dir.is_empty() => {
            let dir = std::path::PathBuf::from(dir);
            assert!(
                dir.is_dir(),
                "PORTAL_FHIR_FIXTURES={} is not a folder",
                dir.display()
            );
            dir
        }
        _ => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synthea"),
    }
}

/// The fixture Bundles, in name order.
#[allow(dead_code)]
pub fn fixture_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures found");
    files
}

/// Runs the shared FHIR validator with US Core over `resources` when CI points at it
/// (`PORTAL_FHIR_VALIDATOR`), failing on any finding; gives its summary (`None` without it, when
/// the tests' own checks stand alone).
pub fn validate_us_core(resources: &[serde_json::Value], what: &str) -> Option<String> {
    let validator = std::env::var("PORTAL_FHIR_VALIDATOR").ok()?;
    let dir = tempfile::tempdir().expect("dir");
    for (i, r) in resources.iter().enumerate() {
        std::fs::write(dir.path().join(format!("r-{i}.json")), r.to_string()).expect("write");
    }
    let out = std::process::Command::new(&validator)
        .arg("--profile")
        .arg("us-core")
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{validator} did not run: {e}"));
    assert!(
        out.status.success(),
        "{what} do not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}
