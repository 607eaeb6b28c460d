//! `portal`: serve the patient portal, run its demo, and administer it from the command line.

use clap::{Parser, Subcommand};
use portal::audit_checkpoints;
use portal::settings::Settings;
use portal::{StartError, build_app, open_store, serve};
use portal_app::accounts::NewStaffAccount;
use portal_app::{Actor, Clock, SystemClock};
use portal_domain::PatientId;
use portal_domain::checkpoint::Checkpoint;
use portal_store::SqliteTuning;
use portal_store::audit::Verdict;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

// The import allocates and frees many small JSON values on several threads; mimalloc does that
// far faster than the system allocator, and serves the web handlers well too. It is built
// without transparent huge pages (the `no_thp` feature): with them, every fresh span of memory
// the import's threads took was a 2 MiB page the kernel had to zero first, a tenth of the
// import's time, and peak memory was some 40 MB higher.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Patient Portal: a secure portal where patients see their health record and talk to their
/// care team. Every flag can also be set with the PORTAL_* environment variable shown.
#[derive(Parser)]
#[command(name = "portal", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the portal.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PORTAL_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Start a fresh demo: a new SQLite database with demo patients and one account of each
    /// role, then serve. The sign-ins are printed and written to demo-accounts.json.
    Demo {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, env = "PORTAL_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Print the current authenticator code of a demo account (patient, clinician, staff or
    /// admin), read from the demo's demo-accounts.json, for signing in without an app.
    DemoCode {
        /// The account's role.
        role: String,
    },
    /// Serve the page benchmark's ceiling on the same database: a bare handler that reads one
    /// stored resource of about 2 KB by primary key (scripts/bench-pages compares pages to it).
    BenchCeiling {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: String,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Import FHIR R4 JSON: Bundles (transaction, batch, collection) and NDJSON files, or folders
    /// of them (in name order). Each file is imported whole or not at all; a summary per file
    /// is printed, and the exit status is 1 if any file failed.
    Import {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
    },
    /// Write synthetic FHIR R4 transaction Bundles, one file per patient, for load and scale
    /// tests: realistic records (encounters, conditions, medicines, vaccines, vital signs, flagged
    /// lab results, notes) that depend only on the seed. Needs no database.
    Generate {
        /// How many patients.
        #[arg(long)]
        patients: u32,
        /// Folder to write patient-NNNNNN.json files into (created if missing).
        #[arg(long)]
        out: std::path::PathBuf,
        /// The same seed gives byte-identical files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print a one-time activation code for a patient record.
    Invite {
        /// The patient record: the portal's record id, its medical record number, or the id the
        /// EHR gave its Patient resource.
        #[arg(long)]
        patient: String,
    },
    /// Manage API tokens of system clients (EHRs sending records).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the apps patients may connect (SMART on FHIR).
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Work with the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage the clinic's message pools (Front desk, Nurse line …): patients send messages
    /// to a pool, and every member sees them in their in-basket.
    Pool {
        #[command(subcommand)]
        command: PoolCommand,
    },
    /// Set up the clinic's schedules: locations, kinds of visit, clinicians' weekly hours and
    /// closures. Times are the clinic's local time (--time-zone).
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Add a location.
    AddLocation {
        /// Its name ("Riverside Clinic").
        #[arg(long)]
        name: String,
        /// Its street address, as patients read it.
        #[arg(long, default_value = "")]
        address: String,
    },
    /// Add a kind of visit.
    AddVisitType {
        /// What patients read ("Follow-up visit").
        #[arg(long)]
        name: String,
        /// How long it lasts, in minutes (a multiple of 5).
        #[arg(long)]
        minutes: String,
        /// It takes place by video.
        #[arg(long)]
        video: bool,
        /// Who may book it online: anyone, new, established or clinic.
        #[arg(long, default_value = "anyone")]
        who: String,
        /// The youngest age that may book it online.
        #[arg(long, default_value = "")]
        min_age: String,
        /// The oldest age that may book it online.
        #[arg(long, default_value = "")]
        max_age: String,
        /// Patients cannot book online closer to the visit than this many hours.
        #[arg(long, default_value = "2")]
        notice_hours: String,
        /// Patients cannot book online further ahead than this many days.
        #[arg(long, default_value = "60")]
        horizon_days: String,
        /// Questions asked at check-in, separated by "|".
        #[arg(long, default_value = "")]
        questions: String,
    },
    /// Add weekly hours for a clinician.
    AddHours {
        /// The clinician's sign-in e-mail.
        #[arg(long)]
        clinician: String,
        /// The location's name.
        #[arg(long)]
        location: String,
        /// Days of the week, comma-separated (mon,tue,wed …).
        #[arg(long)]
        days: String,
        /// First start, HH:MM.
        #[arg(long)]
        from: String,
        /// When the last visit must have ended, HH:MM.
        #[arg(long)]
        to: String,
        /// Kinds of visit offered, comma-separated names (default: every kind).
        #[arg(long, default_value = "")]
        visit_types: String,
        /// The first date the hours apply, YYYY-MM-DD.
        #[arg(long, default_value = "")]
        starting: String,
        /// The last date the hours apply, YYYY-MM-DD.
        #[arg(long, default_value = "")]
        until: String,
    },
    /// Close a clinician's time, or the whole clinic's (a holiday, time off, a blocked hour).
    Close {
        /// The clinician's sign-in e-mail (none: the whole clinic).
        #[arg(long, default_value = "")]
        clinician: String,
        /// From: YYYY-MM-DD (the whole day) or "YYYY-MM-DD HH:MM".
        #[arg(long)]
        from: String,
        /// Until: YYYY-MM-DD (through that day) or "YYYY-MM-DD HH:MM".
        #[arg(long)]
        until: String,
        /// Why ("Holiday", "Time off").
        #[arg(long)]
        reason: String,
    },
    /// List the locations, kinds of visit, weekly hours and closures ahead.
    List,
}

#[derive(Subcommand)]
enum PoolCommand {
    /// Create a pool.
    Create {
        /// Its name, as patients and staff see it.
        #[arg(long)]
        name: String,
        /// Do not offer it to patients as a recipient (for routing by staff only).
        #[arg(long)]
        internal: bool,
    },
    /// Add a clinician or staff member to a pool.
    Add {
        /// The pool's name.
        #[arg(long)]
        pool: String,
        /// The member's sign-in e-mail.
        #[arg(long)]
        email: String,
    },
    /// Remove a member from a pool.
    Remove {
        /// The pool's name.
        #[arg(long)]
        pool: String,
        /// The member's sign-in e-mail.
        #[arg(long)]
        email: String,
    },
    /// List the pools and their members.
    List,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a clinic account. Prints a one-time link with which the person chooses their
    /// password (nobody else ever knows it); they enrol an authenticator at first sign-in.
    Create {
        /// admin, clinician or staff.
        #[arg(long)]
        role: String,
        /// Sign-in e-mail.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        /// What the token is for (e.g. the EHR's name).
        #[arg(long)]
        name: String,
        /// SMART system scopes: system/*.write, system/*.read or both (space-separated).
        #[arg(long)]
        scope: String,
    },
    /// List the tokens (client id, name, scopes, created, revoked), never the tokens.
    List,
    /// Revoke a token at once: its next request is refused.
    Revoke {
        /// The token's client id, as `portal token create` and `portal token list` print it.
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum AppCommand {
    /// Register an app; prints its client id (and, for a confidential client, its secret,
    /// shown only once).
    Register {
        /// The app's name, as patients see it on the consent page.
        #[arg(long)]
        name: String,
        /// A redirect URI, matched exactly (repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uri: Vec<String>,
        /// A confidential client (a server that keeps a secret) rather than a public one.
        #[arg(long)]
        confidential: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every event of the hash chain and its signed head; exit 1 and name the first bad
    /// event if anything was changed, removed, reordered or cut off. Checkpoints kept outside
    /// the database (--checkpoints FILE, or one SEQ:HASH with --checkpoint) also catch a database
    /// rolled back, an old head put back, or a rewrite by someone holding the key.
    Verify {
        /// A checkpoint printed by an earlier run.
        #[arg(long)]
        checkpoint: Option<String>,
        /// A file of kept checkpoints (`audit checkpoint --append`, `--audit-checkpoint-file`):
        /// exit 1 and name the first one the chain no longer holds.
        #[arg(long, value_name = "FILE")]
        checkpoints: Option<PathBuf>,
    },
    /// Append the chain's head (`TIME SEQ:HASH`) to a file kept outside the database, for
    /// `audit verify --checkpoints` to check later; run it from cron, or let the server do it
    /// with --audit-checkpoint-file.
    Checkpoint {
        /// The file (created if missing, only ever appended to).
        #[arg(long, value_name = "FILE")]
        append: PathBuf,
    },
}

/// The exit of an administrative command: field errors are printed and exit 2.
fn finish(result: Result<(), portal_app::Error>) -> Result<ExitCode, StartError> {
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(portal_app::Error::Invalid(errors)) => {
            for (field, message) in errors.iter() {
                eprintln!("{field}: {message}");
            }
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs `portal pool …`: prints what it did; field errors exit 2.
async fn pool_command(app: &portal_app::App, command: PoolCommand) -> Result<ExitCode, StartError> {
    let operator = Actor::operator();
    let messages = app.messages();
    let result = match command {
        PoolCommand::Create { name, internal } => messages
            .create_pool(&operator, &name, !internal)
            .await
            .map(|_| {
                println!(
                    "Pool \"{}\" created{}.",
                    name.trim(),
                    if internal {
                        " (not offered to patients)"
                    } else {
                        ""
                    }
                )
            }),
        PoolCommand::Add { pool, email } => messages
            .set_pool_member(&operator, &pool, &email, true)
            .await
            .map(|changed| {
                println!(
                    "{}",
                    if changed {
                        "Added."
                    } else {
                        "Already a member; nothing changed."
                    }
                )
            }),
        PoolCommand::Remove { pool, email } => messages
            .set_pool_member(&operator, &pool, &email, false)
            .await
            .map(|changed| {
                println!(
                    "{}",
                    if changed {
                        "Removed."
                    } else {
                        "Not a member; nothing changed."
                    }
                )
            }),
        PoolCommand::List => messages.pools(&operator).await.map(|pools| {
            if pools.is_empty() {
                println!("No pools yet. Create one with: portal pool create --name NAME");
            }
            for pool in pools {
                println!(
                    "{}{}: {}",
                    pool.name,
                    if pool.offered { "" } else { " (internal)" },
                    if pool.members.is_empty() {
                        "no members".to_string()
                    } else {
                        pool.members
                            .iter()
                            .map(|(_, name, email)| format!("{name} <{email}>"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
            }
        }),
    };
    finish(result)
}

/// Runs `portal schedule …`: prints what it did; field errors exit 2.
async fn schedule_command(
    app: &portal_app::App,
    command: ScheduleCommand,
) -> Result<ExitCode, StartError> {
    let operator = Actor::operator();
    let appointments = app.appointments();
    let result = match command {
        ScheduleCommand::AddLocation { name, address } => appointments
            .add_location(&operator, &name, &address)
            .await
            .map(|_| println!("Location \"{}\" added.", name.trim())),
        ScheduleCommand::AddVisitType {
            name,
            minutes,
            video,
            who,
            min_age,
            max_age,
            notice_hours,
            horizon_days,
            questions,
        } => {
            let form = portal_domain::appointments::VisitTypeForm {
                name: name.clone(),
                minutes,
                video,
                audience: who,
                min_age,
                max_age,
                notice_hours,
                horizon_days,
                questions: questions.replace("\\n", "\n").replace('|', "\n"),
            };
            appointments
                .add_visit_type(&operator, &form)
                .await
                .map(|_| println!("Visit type \"{}\" added.", name.trim()))
        }
        ScheduleCommand::AddHours {
            clinician,
            location,
            days,
            from,
            to,
            visit_types,
            starting,
            until,
        } => {
            let types: Vec<String> = visit_types.split(',').map(str::to_string).collect();
            appointments
                .add_hours(
                    &operator,
                    &clinician,
                    &location,
                    &[days],
                    (&from, &to),
                    (&starting, &until),
                    &types,
                )
                .await
                .map(|ids| println!("{} block(s) of weekly hours added.", ids.len()))
        }
        ScheduleCommand::Close {
            clinician,
            from,
            until,
            reason,
        } => appointments
            .add_closure(&operator, &clinician, (&from, &until), &reason)
            .await
            .map(|_| println!("Closure added.")),
        ScheduleCommand::List => appointments.setup(&operator).await.map(|setup| {
            let name_of = |id: portal_domain::UserId| {
                setup
                    .clinicians
                    .iter()
                    .find(|(c, _)| *c == id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_else(|| id.to_string())
            };
            println!("Locations:");
            for l in &setup.locations {
                println!("  {}: {}", l.name, l.address);
            }
            println!("Kinds of visit:");
            for v in &setup.visit_types {
                println!(
                    "  {} ({} min{}), {}{}",
                    v.name,
                    v.minutes,
                    if v.video { ", video" } else { "" },
                    v.audience.label(),
                    if v.active { "" } else { " (retired)" }
                );
            }
            println!("Weekly hours:");
            for h in &setup.hours {
                println!(
                    "  {} {:?} {}-{}",
                    name_of(h.clinician),
                    h.weekday,
                    h.start.strftime("%H:%M"),
                    h.end.strftime("%H:%M")
                );
            }
            println!("Closures ahead:");
            for c in &setup.closures {
                println!(
                    "  {}: {} from {} to {}",
                    c.clinician
                        .map(name_of)
                        .unwrap_or_else(|| "Whole clinic".into()),
                    c.reason,
                    c.starts,
                    c.ends
                );
            }
        }),
    };
    finish(result)
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        let _ = tx.send(true);
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        let _ = tx.send(true);
    });
    rx
}

async fn run(cli: Cli) -> Result<ExitCode, StartError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut settings = cli.settings;
    match cli.command {
        Command::Migrate => {
            let store = open_store(&settings, clock.as_ref()).await?;
            store.close().await;
            println!("The database is up to date.");
        }
        Command::Serve { listen } => {
            let listener = portal::bind_listener(&listen).await?;
            let metrics = portal::bind_metrics(&settings).await?;
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            tracing::info!(address = %listener.local_addr()?, "portal listening");
            serve(&settings, app, listener, metrics, shutdown_signal().await).await?;
        }
        Command::Demo { listen } => {
            let listener = portal::bind_listener(&listen).await?;
            let metrics = portal::bind_metrics(&settings).await?;
            let address = listener.local_addr()?;
            if settings.public_url == "http://127.0.0.1:8080" {
                settings.public_url = format!("http://{address}");
            }
            portal::create_private_dir(&settings.data_dir)?;
            if settings.database.is_none() {
                // A fresh demo database each time; other data in the folder is left alone.
                for name in ["demo.db", "demo.db-wal", "demo.db-shm"] {
                    let path = settings.data_dir.join(name);
                    if path.exists() {
                        std::fs::remove_file(path)?;
                    }
                }
                let url = format!("sqlite://{}", settings.data_dir.join("demo.db").display());
                settings.database = Some(
                    url.parse()
                        .map_err(|_| StartError::Config("database".into()))?,
                );
            }
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            if !app
                .accounts()
                .list_accounts(&Actor::operator())
                .await?
                .is_empty()
            {
                return Err(StartError::Config(
                    "the demo needs an empty database; this one already has accounts".into(),
                ));
            }
            let records = portal::demo_data::generated_records()?;
            let mut demo = app.seed_demo_with(Some(&records)).await?;
            let mut children = Vec::new();
            let mut sample = Vec::new();
            for (name, bytes) in portal::demo_data::BUNDLES {
                let summary = app
                    .import()
                    .import_bundle(&Actor::operator(), *bytes)
                    .await
                    .map_err(|e| StartError::Config(format!("sample record {name}: {e}")))?;
                for entry in summary
                    .entries
                    .iter()
                    .filter(|e| e.resource_type == "Patient")
                {
                    let id: PatientId = entry
                        .id
                        .parse()
                        .map_err(|_| StartError::Config(format!("sample record {name}: bad id")))?;
                    sample.push(id);
                    if portal::demo_data::CHILDREN.contains(name) {
                        children.push(id);
                    }
                }
            }
            // The clinician also has a patient whose record holds nothing yet: Marcus Chen, who
            // has no account either.
            sample.extend(
                demo.patients
                    .iter()
                    .filter(|(name, _)| name == "Marcus Chen")
                    .map(|(_, id)| *id),
            );
            app.link_demo_records(&mut demo, &children, &sample).await?;
            app.import().analyze_after_import().await?;
            let json = serde_json::to_string_pretty(&demo)
                .map_err(|e| StartError::Config(e.to_string()))?;
            let accounts_file = settings.data_dir.join("demo-accounts.json");
            std::fs::write(&accounts_file, json)?;
            println!("Patient Portal demo is running at {}", settings.public_url);
            println!();
            for a in &demo.accounts {
                println!(
                    "  {:<10} {:<28} password {}",
                    a.role.as_str(),
                    a.email,
                    a.password
                );
                println!("             sees {}", a.sees);
                if let Ok(secret) = data_encoding::BASE32_NOPAD.decode(a.totp_secret.as_bytes()) {
                    println!(
                        "             authenticator {}",
                        portal_app::totp::provisioning_uri(
                            &secret,
                            "Patient Portal demo",
                            &a.email
                        )
                    );
                }
            }
            println!();
            println!(
                "Every demo account signs in with a second step: add its authenticator line to an \
                 authenticator app, or print the current code with `portal --data-dir {} demo-code \
                 ROLE` (the secrets are in {}).",
                settings.data_dir.display(),
                accounts_file.display()
            );
            println!(
                "To try activation: code {} with date of birth {} ({}).",
                demo.activation.code, demo.activation.birth_date, demo.activation.patient
            );
            println!(
                "E-mails (password resets) are written to {}.",
                settings.data_dir.join("mail").display()
            );
            println!("Press Ctrl-C to stop.");
            serve(&settings, app, listener, metrics, shutdown_signal().await).await?;
        }
        Command::BenchCeiling { listen } => {
            let listener = portal::bind_listener(&listen).await?;
            let store = open_store(&settings, clock.as_ref()).await?;
            let id = portal::ceiling::pick_row(&store)
                .await
                .map_err(StartError::Config)?;
            println!("ceiling listening on http://{}/", listener.local_addr()?);
            let mut stop = shutdown_signal().await;
            axum::serve(listener, portal::ceiling::router(store, id))
                .with_graceful_shutdown(async move {
                    let _ = stop.changed().await;
                })
                .await?;
        }
        Command::DemoCode { role } => {
            let file = settings.data_dir.join("demo-accounts.json");
            let Ok(text) = std::fs::read_to_string(&file) else {
                eprintln!(
                    "portal demo-code: no demo accounts at {}; start the demo first (portal demo)",
                    file.display()
                );
                return Ok(ExitCode::FAILURE);
            };
            let accounts: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| StartError::Config(format!("{}: {e}", file.display())))?;
            let secret = accounts["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["role"] == role.as_str())
                .and_then(|a| a["totp_secret"].as_str())
                .and_then(|s| data_encoding::BASE32_NOPAD.decode(s.as_bytes()).ok());
            let Some(secret) = secret else {
                eprintln!(
                    "portal demo-code: no demo account with the role {role:?} (patient, clinician, staff or admin)"
                );
                return Ok(ExitCode::from(2));
            };
            let now = clock.now();
            let step = portal_app::totp::step_at(now);
            let left = 30 - now.as_second().rem_euclid(30);
            println!(
                "{} (valid for {left} more second{})",
                portal_app::totp::code_for_step(&secret, step),
                if left == 1 { "" } else { "s" }
            );
        }
        Command::User {
            command: UserCommand::Create { role, email, name },
        } => {
            let new = match NewStaffAccount::parse(&email, &name, &role) {
                Ok(new) => new,
                Err(errors) => {
                    for (field, message) in errors.iter() {
                        eprintln!("{field}: {message}");
                    }
                    return Ok(ExitCode::from(2));
                }
            };
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            match app
                .accounts()
                .create_staff_account(&Actor::operator(), new)
                .await
            {
                Ok(created) => {
                    println!(
                        "Created {role} account {}. Give this one-time link to the person, and \
                         to nobody else: it lets them choose their password within 3 days, and \
                         they set up their authenticator app at first sign-in.",
                        created.id
                    );
                    println!("{}", created.setup_link);
                }
                Err(portal_app::Error::Invalid(errors)) => {
                    eprintln!("{errors}");
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Import { paths } => {
            let store =
                portal::open_store_tuned(&settings, clock.as_ref(), SqliteTuning::BULK).await?;
            let app = build_app(&settings, store, clock).await?;
            return Ok(portal::import::run(&app, &paths).await);
        }
        Command::Token {
            command: TokenCommand::Create { name, scope },
        } => {
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            match app
                .accounts()
                .create_api_token(&Actor::operator(), &name, &scope)
                .await
            {
                Ok(token) => {
                    println!("{}", token.token);
                    eprintln!(
                        "Client {}: send it as \"Authorization: Bearer …\". It is shown only now.",
                        token.id
                    );
                }
                Err(portal_app::Error::Invalid(errors)) => {
                    for (field, message) in errors.iter() {
                        eprintln!("{field}: {message}");
                    }
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Token {
            command: TokenCommand::List,
        } => {
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            for t in app.accounts().api_tokens(&Actor::operator()).await? {
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {at}"),
                    None => "active".to_string(),
                };
                println!(
                    "{}\t{}\t{}\tcreated {}\t{state}",
                    t.row.id, t.row.name, t.row.scopes, t.created_at
                );
            }
        }
        Command::Token {
            command: TokenCommand::Revoke { id },
        } => {
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            match app
                .accounts()
                .revoke_api_token(&Actor::operator(), &id)
                .await
            {
                Ok(token) => eprintln!("Revoked {} ({}).", token.id, token.name),
                Err(portal_app::Error::NotFound) => {
                    eprintln!("No active token has the client id {id:?}.");
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::App {
            command:
                AppCommand::Register {
                    name,
                    redirect_uri,
                    confidential,
                },
        } => {
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            match app
                .smart()
                .register_app(&Actor::operator(), &name, &redirect_uri, confidential)
                .await
            {
                Ok(registered) => {
                    println!("client_id {}", registered.client_id);
                    if let Some(secret) = registered.secret {
                        println!("client_secret {secret}");
                        eprintln!("The secret is shown only now; the portal keeps only its hash.");
                    }
                }
                Err(portal_app::Error::Invalid(errors)) => {
                    for (field, message) in errors.iter() {
                        eprintln!("{field}: {message}");
                    }
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Pool { command } => {
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            return pool_command(&app, command).await;
        }
        Command::Schedule { command } => {
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            return schedule_command(&app, command).await;
        }
        Command::Generate {
            patients,
            out,
            seed,
        } => match portal_generate::run(patients, &out, seed) {
            Ok(written) => println!(
                "Wrote {} file(s) to {}: {} resources ({}-{} per patient), {} bytes (seed {seed}).",
                written.files,
                out.display(),
                written.resources,
                written.fewest_resources,
                written.most_resources,
                written.bytes
            ),
            Err(e) => {
                eprintln!("portal generate: {e}");
                return Ok(ExitCode::FAILURE);
            }
        },
        Command::Invite { patient } => {
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            match app
                .accounts()
                .invite_by_reference(&Actor::operator(), &patient)
                .await
            {
                Ok(invitation) => {
                    println!("{}", invitation.code);
                    eprintln!(
                        "Single use, together with the patient's date of birth, until {} UTC.",
                        invitation.expires_at.strftime("%Y-%m-%d %H:%M")
                    );
                }
                Err(portal_app::Error::NotFound) => {
                    eprintln!(
                        "patient: no patient record has this id, medical record number or EHR id"
                    );
                    return Ok(ExitCode::from(2));
                }
                Err(portal_app::Error::Invalid(errors)) => {
                    for (_, message) in errors.iter() {
                        eprintln!("patient: {message}");
                    }
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Audit {
            command: AuditCommand::Checkpoint { append },
        } => {
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            match audit_checkpoints::append(&app, &append).await {
                Ok(kept) => println!("{kept}"),
                Err(e) => {
                    eprintln!("portal audit checkpoint: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    checkpoint,
                    checkpoints,
                },
        } => {
            let checkpoint = match checkpoint.map(|c| c.parse::<Checkpoint>()).transpose() {
                Ok(checkpoint) => checkpoint,
                Err(e) => {
                    eprintln!("checkpoint: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let kept = match checkpoints
                .as_deref()
                .map(audit_checkpoints::read)
                .transpose()
            {
                Ok(kept) => kept,
                Err(e) => {
                    eprintln!("checkpoints: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let store = open_store(&settings, clock.as_ref()).await?;
            let app = build_app(&settings, store, clock).await?;
            match app.clinic().verify_audit_trail(&Actor::operator()).await? {
                Verdict::Intact { events } => {
                    println!("The audit trail is intact ({events} events).")
                }
                Verdict::Broken { seq, problem } => {
                    println!("The audit trail is damaged: first bad event {seq}: {problem}");
                    return Ok(ExitCode::from(1));
                }
            }
            if let Some(checkpoint) = checkpoint {
                if app.clinic().audit_matches_checkpoint(&checkpoint).await? {
                    println!("The earlier checkpoint {checkpoint} still matches.");
                } else {
                    println!(
                        "The audit trail is damaged: it no longer contains checkpoint \
                         {checkpoint} (events were removed or rewritten, or the database was \
                         rolled back)."
                    );
                    return Ok(ExitCode::from(1));
                }
            }
            if let (Some(kept), Some(file)) = (kept, checkpoints) {
                if let Some((line, lost)) = app.clinic().audit_first_lost_checkpoint(&kept).await? {
                    println!(
                        "The audit trail is damaged: it no longer contains checkpoint {} kept at \
                         {}: events were removed or rewritten, or the database was rolled back \
                         (line {line} of {}).",
                        lost.checkpoint.seq,
                        lost.time(),
                        file.display()
                    );
                    return Ok(ExitCode::from(1));
                }
                println!(
                    "All {} checkpoints kept in {} still match.",
                    kept.len(),
                    file.display()
                );
            }
            println!("Checkpoint: {}", app.clinic().audit_checkpoint().await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.settings);
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("portal: {e}");
            ExitCode::FAILURE
        }
    }
}
