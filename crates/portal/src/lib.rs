//! Start-up and shutdown of the portal, shared by the `portal` command and the integration tests.

pub mod audit_checkpoints;
pub mod ceiling;
pub mod demo_data;
pub mod import;
pub mod settings;

use portal_app::mail::Transport;
use portal_app::{App, Clock, SecretKey};
use portal_store::{SqliteTuning, Store};
use portal_web::AppState;
use settings::Settings;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What can stop the portal from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] portal_store::Error),
    /// The application could not be set up.
    #[error("{0}")]
    App(#[from] portal_app::Error),
    /// A file or socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A setting is wrong.
    #[error("configuration: {0}")]
    Config(String),
}

/// Creates the data directory readable by its owner only (it holds the database, the key and
/// outgoing mail); an existing directory keeps its permissions.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Opens the database (creating the data directory for SQLite) and applies migrations.
pub async fn open_store(settings: &Settings, clock: &dyn Clock) -> Result<Store, StartError> {
    open_store_tuned(settings, clock, SqliteTuning::SERVING).await
}

/// [`open_store`] with SQLite connections set up for `tuning` (a bulk import's, for one).
pub async fn open_store_tuned(
    settings: &Settings,
    clock: &dyn Clock,
    tuning: SqliteTuning,
) -> Result<Store, StartError> {
    create_private_dir(&settings.data_dir)?;
    let url = settings.database_url();
    let store = Store::connect_tuned(&url, settings.max_connections, tuning).await?;
    store.migrate(clock.now()).await?;
    Ok(store)
}

/// The secret key: `PORTAL_SECRET_KEY`, or `secret.key` in the data directory.
pub fn secret_key(settings: &Settings) -> Result<SecretKey, StartError> {
    match &settings.secret_key {
        Some(hex) => Ok(SecretKey::from_hex(hex.expose())?),
        None => Ok(SecretKey::load_or_create(&settings.data_dir)?),
    }
}

/// Builds the application on an open store.
pub async fn build_app(
    settings: &Settings,
    store: Store,
    clock: Arc<dyn Clock>,
) -> Result<App, StartError> {
    let key = secret_key(settings)?;
    Ok(App::new(store, clock, settings.app_config(), key).await?)
}

/// Where e-mail goes: SMTP when configured, otherwise `.eml` files under the data directory.
pub fn mail_transport(settings: &Settings) -> Result<Transport, StartError> {
    match &settings.smtp_url {
        Some(url) => Ok(Transport::smtp(url.expose())?),
        None => Ok(Transport::Directory(settings.data_dir.join("mail"))),
    }
}

/// Binds the portal's own address (`--listen`); a busy port says which address and how to choose
/// another.
pub async fn bind_listener(address: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(address).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            StartError::Config(format!(
                "{address} is already in use (is another portal running?); choose another \
                 address with --listen, for example --listen 127.0.0.1:8081"
            ))
        } else {
            StartError::Config(format!("--listen {address}: {e}"))
        }
    })
}

/// Binds the metrics listener `--metrics-listen` names (`None` when it is `off`).
pub async fn bind_metrics(settings: &Settings) -> Result<Option<TcpListener>, StartError> {
    match settings.metrics_listen.as_str() {
        "off" | "" => Ok(None),
        address => Ok(Some(TcpListener::bind(address).await.map_err(|e| {
            StartError::Config(format!(
                "--metrics-listen {address}: {e} (choose another address with --metrics-listen, \
                 or `off`)"
            ))
        })?)),
    }
}

/// Serves the portal on `listener` until `shutdown` turns true; runs the outbox worker beside it,
/// `/metrics` on `metrics` (a listener of its own, never the public one), and keeps audit
/// checkpoints when `--audit-checkpoint-file` is set.
pub async fn serve(
    settings: &Settings,
    app: App,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), StartError> {
    let transport = mail_transport(settings)?;
    let dates = portal_web::pages::words::Dates::new(&settings.time_zone, &settings.locale)
        .map_err(|e| StartError::Config(format!("--time-zone/--locale: {e}")))?;
    portal_domain::appointments::offers::parse_reminder_hours(&settings.reminder_hours)
        .map_err(|e| StartError::Config(format!("--reminder-hours: {e}")))?;
    let from = settings
        .mail_from
        .parse()
        .map_err(|e| StartError::Config(format!("--mail-from: {e}")))?;
    let worker_app = app.clone();
    let worker_shutdown = shutdown.clone();
    let worker = tokio::spawn(async move {
        worker_app
            .run_mail_worker(transport, from, worker_shutdown)
            .await;
    });
    let housekeeping_app = app.clone();
    let mut housekeeping_shutdown = shutdown.clone();
    let housekeeping = tokio::spawn(async move {
        loop {
            if let Err(e) = housekeeping_app.accounts().purge_expired_sessions().await {
                tracing::warn!(error = %e, "could not delete expired sessions");
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
                _ = housekeeping_shutdown.changed() => return,
            }
        }
    });
    let checkpoints = settings.audit_checkpoint_file.clone().map(|path| {
        let every = std::time::Duration::from_secs(settings.audit_checkpoint_every);
        tokio::spawn(audit_checkpoints::keep(
            app.clone(),
            path,
            every,
            shutdown.clone(),
        ))
    });
    let state = AppState {
        app,
        tls: settings.public_url.starts_with("https://"),
        trusted_proxies: portal_web::proxies::TrustedProxies::new(settings.trusted_proxies.clone()),
        fhir_bodies: portal_web::fhir::BodyBudget::new(portal_web::fhir::BODY_BUDGET_BYTES),
        upload_bodies: portal_web::fhir::BodyBudget::new(portal_web::upload::UPLOAD_BUDGET_BYTES),
        dates,
    };
    let metrics_server = match metrics {
        Some(metrics) => {
            tracing::info!(address = %metrics.local_addr()?, "metrics listening");
            let router = portal_web::routes::metrics_router(state.clone());
            let mut metrics_shutdown = shutdown.clone();
            Some(tokio::spawn(async move {
                let served = axum::serve(metrics, router)
                    .with_graceful_shutdown(async move {
                        while !*metrics_shutdown.borrow() {
                            if metrics_shutdown.changed().await.is_err() {
                                break;
                            }
                        }
                    })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }))
        }
        None => None,
    };
    let router = portal_web::router(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    })
    .await?;
    let _ = worker.await;
    let _ = housekeeping.await;
    if let Some(checkpoints) = checkpoints {
        let _ = checkpoints.await;
    }
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    Ok(())
}
