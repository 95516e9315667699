//! `vigilo send DIR`: store-and-forward sender for monitoring reports.
//!
//! Commune health stations have weak, intermittent links and old PCs, so the folder itself
//! is the queue and the only state: a report stays in DIR until the server acknowledged it,
//! then moves to `sent/` with the server's receipt, or to `failed/` with the server's
//! explanation. The process can be killed at any moment (power cuts) and started again;
//! the worst case is one resend, which the server absorbs through the `Idempotency-Key`.
//!
//! [`policy`] is pure (status classification, backoff, Retry-After) and unit tested; the
//! rest does the I/O. Docs for station staff: docs/send.md.

use clap::Args;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Exit status of `--once` when reports remain because the server could not be reached
/// or was busy (sysexits EX_TEMPFAIL): a scheduler should simply run it again later.
pub const EXIT_TEMPFAIL: i32 = 75;
/// Exit status when the setup, not a report, is wrong: the token was refused (401) or the
/// server address redirects (sysexits EX_CONFIG).
pub const EXIT_CONFIG: i32 = 78;

/// Path of the endpoint under `--server`.
const ENDPOINT: &str = "/api/v1/monitoring/reports";
/// Largest response body kept as a receipt or problem: a misbehaving proxy must not fill
/// a station's small disk.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Args)]
pub struct SendArgs {
    /// Folder the station drops reports into (*.json or *.csv). Write a file as NAME.part,
    /// then rename it: names ending in .part or .tmp and hidden files are never sent.
    pub dir: PathBuf,
    /// Vigilo server, e.g. https://vigilo.example.gov.vn
    #[arg(long, env = "VIGILO_SERVER")]
    pub server: String,
    /// File holding the API token (first line). Without it the token is read from the
    /// VIGILO_TOKEN environment variable; there is deliberately no flag for the token
    /// itself, since command lines are visible to every user of the machine.
    #[arg(long, env = "VIGILO_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Make one pass and exit: 0 when every report was acknowledged or moved to failed/,
    /// 75 when some remain because the link or the server was down.
    #[arg(long)]
    pub once: bool,
    /// Seconds between passes when the previous pass went through
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Seconds allowed for each request, upload included
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Longest wait in seconds between retries while the link is down
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_backoff: u64,
}

/// Decisions without I/O: what an answer means and how long to wait.
pub mod policy {
    use std::time::Duration;

    /// What an HTTP status means for the file that was sent.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Class {
        /// 2xx: the server has it; never send it again.
        Acknowledged,
        /// 4xx other than 401, 408 and 429: the file itself is wrong; resending cannot help.
        Permanent,
        /// 408, 429, 5xx (and network failures): the file is fine, the moment is not.
        Transient,
        /// 401, 1xx, 3xx, and 404/405 without a problem document: the sender's token or
        /// server address is wrong, not the file.
        /// Moving every report to failed/ over an expired token would leave staff a pile of
        /// good files to move back, so they stay in the queue instead.
        Setup,
    }

    /// Classifies an answer by its status and whether its body is an RFC 9457 problem
    /// (`application/problem+json`), which is how the Vigilo server explains a refusal.
    /// A bare 404 or 405 comes from a wrong address (a proxy, a typo, an older server), not
    /// from the report, so it keeps the reports queued; a problem document means the server
    /// looked at the report and said no.
    pub fn classify(status: u16, problem: bool) -> Class {
        match status {
            200..=299 => Class::Acknowledged,
            401 => Class::Setup,
            404 | 405 if !problem => Class::Setup,
            408 | 429 => Class::Transient,
            400..=499 => Class::Permanent,
            500..=599 => Class::Transient,
            _ => Class::Setup,
        }
    }

    /// First retry waits about this long.
    pub const INITIAL_BACKOFF: Duration = Duration::from_secs(2);
    /// Longest Retry-After honoured: a garbled header must not park a station for a year.
    pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
    /// Shortest wait even when the server says `Retry-After: 0`, so a confused server
    /// cannot turn the sender into a busy loop on a metered link.
    pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);

    /// Delay before retry number `attempt` (0 for the first): `initial * 2^attempt`, capped
    /// at `cap`, then scaled by "equal jitter" into `[half, full]` of that step. Stations that
    /// lost the same link come back spread out instead of all at once, yet each still waits
    /// at least half the step. `jitter` is a uniform draw from `[0, 1)`, passed in so tests
    /// control it.
    pub fn backoff(attempt: u32, initial: Duration, cap: Duration, jitter: f64) -> Duration {
        let growth = 2f64.powi(i32::try_from(attempt.min(62)).unwrap_or(62));
        let step = (initial.as_secs_f64() * growth).min(cap.as_secs_f64());
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Duration::try_from_secs_f64(step * (0.5 + 0.5 * jitter)).unwrap_or(cap)
    }

    /// The wait before the next attempt: the server's Retry-After when it gave one (it knows
    /// its own load better than we do), otherwise the exponential backoff.
    pub fn next_delay(
        attempt: u32,
        retry_after: Option<Duration>,
        initial: Duration,
        cap: Duration,
        jitter: f64,
    ) -> Duration {
        match retry_after {
            Some(d) => d.clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER),
            None => backoff(attempt, initial, cap, jitter),
        }
    }

    /// Reads a Retry-After value given in seconds. The HTTP-date form gives `None`: it
    /// depends on a station clock that is often wrong, so plain backoff is safer.
    pub fn parse_retry_after(value: &str) -> Option<Duration> {
        value.trim().parse::<u64>().ok().map(Duration::from_secs)
    }

    /// Kind of batch a file holds, from its name.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind {
        Json,
        Csv,
    }

    impl Kind {
        pub fn content_type(self) -> &'static str {
            match self {
                Kind::Json => "application/json",
                Kind::Csv => "text/csv",
            }
        }
    }

    /// Whether a file name in the queue folder is a report to send. Files still being
    /// written (`.part`, `.tmp`), hidden files (editors' and our own temporaries) and copies
    /// of receipts or problems put back by hand are skipped.
    pub fn report_kind(name: &str) -> Option<Kind> {
        let lower = name.to_lowercase();
        if lower.starts_with('.')
            || lower.ends_with(".part")
            || lower.ends_with(".tmp")
            || lower.ends_with(".receipt.json")
            || lower.ends_with(".problem.json")
        {
            return None;
        }
        if lower.ends_with(".json") {
            Some(Kind::Json)
        } else if lower.ends_with(".csv") {
            Some(Kind::Csv)
        } else {
            None
        }
    }
}

use policy::Class;

/// Errors that stop the sender; outcomes of single reports are not errors.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the folder {0} does not exist")]
    NoFolder(PathBuf),
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no API token: put it in a file and pass --token-file, or set VIGILO_TOKEN")]
    NoToken,
    #[error("cannot read the token file {}", path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    // The token itself is never part of a message.
    #[error("the API token is empty or contains characters an HTTP header cannot carry")]
    BadToken,
    #[error("server address '{0}' is not an http:// or https:// URL")]
    BadServer(String),
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SendError + 'a {
    move |source| SendError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Everything a pass needs, resolved once from the arguments.
struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    auth: reqwest::header::HeaderValue,
    dir: PathBuf,
    sent: PathBuf,
    failed: PathBuf,
    timeout: Duration,
}

/// Why a pass stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Transient { retry_after: Option<Duration> },
    Setup,
}

#[derive(Debug, Default)]
struct PassReport {
    stop: Option<Stop>,
    remaining: usize,
}

/// What the network gave back for one POST.
enum Answer {
    Status {
        status: u16,
        problem: bool,
        body: Vec<u8>,
        retry_after: Option<Duration>,
        location: Option<String>,
    },
    /// No HTTP answer: the reason in plain words.
    NoAnswer(String),
}

/// Entry point from `main`. Exits the process itself with 75 or 78 in `--once` mode, so
/// `main`'s `Result<()>` contract stays as it is for every other command.
pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let sender = Sender::new(&args)?;
    let cap = Duration::from_secs(args.max_backoff);
    if args.once {
        let report = sender.pass().await?;
        let code = match report.stop {
            None => 0,
            Some(Stop::Transient { .. }) => EXIT_TEMPFAIL,
            Some(Stop::Setup) => EXIT_CONFIG,
        };
        if report.remaining > 0 {
            crate::say(&format!(
                "{} report(s) still waiting in {}; they will go on the next run.\n",
                report.remaining,
                sender.dir.display()
            ));
        }
        if code != 0 {
            // `say` flushed stdout already; nothing else holds buffered state.
            std::process::exit(code);
        }
        return Ok(());
    }

    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    let mut attempt: u32 = 0;
    loop {
        let outcome = tokio::select! {
            r = sender.pass() => r,
            () = &mut shutdown => return Ok(()),
        };
        let jitter: f64 = rand::random();
        let delay = match outcome {
            Ok(PassReport { stop: None, .. }) => {
                attempt = 0;
                Duration::from_secs(args.interval)
            }
            Ok(PassReport {
                stop: Some(Stop::Transient { retry_after }),
                remaining,
            }) => {
                let d =
                    policy::next_delay(attempt, retry_after, policy::INITIAL_BACKOFF, cap, jitter);
                attempt = attempt.saturating_add(1);
                crate::say(&format!(
                    "{remaining} report(s) waiting; trying again in {}.\n",
                    human(d)
                ));
                d
            }
            Ok(PassReport {
                stop: Some(Stop::Setup),
                ..
            }) => {
                // Nothing will change until someone fixes the token or address: check rarely.
                crate::say(&format!(
                    "Reports are kept until the setup is fixed; checking again in {}.\n",
                    human(cap)
                ));
                cap
            }
            Err(e) => {
                // A full disk or a folder being moved can heal by itself; a station sender
                // must keep going rather than die and wait for a visit.
                let d = policy::backoff(attempt, policy::INITIAL_BACKOFF, cap, jitter);
                attempt = attempt.saturating_add(1);
                eprintln!(
                    "error: {:#}; trying again in {}",
                    anyhow::Error::from(e),
                    human(d)
                );
                d
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {},
            () = &mut shutdown => return Ok(()),
        }
    }
}

impl Sender {
    fn new(args: &SendArgs) -> Result<Sender, SendError> {
        if !args.dir.is_dir() {
            return Err(SendError::NoFolder(args.dir.clone()));
        }
        let token = read_token(args.token_file.as_deref())?;
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| SendError::BadToken)?;
        // Keeps the token out of any Debug output (logs, error reports).
        auth.set_sensitive(true);

        let base = args.server.trim_end_matches('/');
        let url = reqwest::Url::parse(&format!("{base}{ENDPOINT}"))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| SendError::BadServer(args.server.clone()))?;
        if url.scheme() == "http" && !is_loopback(&url) {
            eprintln!(
                "warning: {} is plain http: the token and the reports travel unencrypted; use https://",
                args.server
            );
        }

        let timeout = Duration::from_secs(args.timeout);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            // A redirect usually means http:// where https:// was meant; following it would
            // turn the POST into a GET or resend the token elsewhere. Report it instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vigilo-send/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SendError::Client)?;

        let sent = args.dir.join("sent");
        let failed = args.dir.join("failed");
        for d in [&sent, &failed] {
            std::fs::create_dir_all(d).map_err(io_err("create the folder", d))?;
        }
        Ok(Sender {
            client,
            url,
            auth,
            dir: args.dir.clone(),
            sent,
            failed,
            timeout,
        })
    }

    /// One pass over the queue, oldest report first. Stops at the first transient failure:
    /// when the link is down, trying every other file only burns the station's data.
    async fn pass(&self) -> Result<PassReport, SendError> {
        let queue = self.queue()?;
        let total = queue.len();
        for (i, (path, kind)) in queue.into_iter().enumerate() {
            if let Some(stop) = self.send_one(&path, kind).await? {
                return Ok(PassReport {
                    stop: Some(stop),
                    remaining: total - i,
                });
            }
        }
        Ok(PassReport::default())
    }

    /// Reports in the folder, oldest first (modification time, then name).
    fn queue(&self) -> Result<Vec<(PathBuf, policy::Kind)>, SendError> {
        let entries = std::fs::read_dir(&self.dir).map_err(io_err("read the folder", &self.dir))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("read the folder", &self.dir))?;
            let name = entry.file_name();
            let Some(kind) = name.to_str().and_then(policy::report_kind) else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            found.push((modified, entry.path(), kind));
        }
        found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        Ok(found.into_iter().map(|(_, p, k)| (p, k)).collect())
    }

    /// Sends one report and files it according to the answer. `Some(stop)` ends the pass.
    async fn send_one(&self, path: &Path, kind: policy::Kind) -> Result<Option<Stop>, SendError> {
        let name = file_name(path);
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            // Taken away between listing and reading (another sender, a person): not ours.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", path)(e)),
        };
        let key = hex::encode(Sha256::digest(&bytes));

        match self.post(bytes, kind, &key).await {
            Answer::NoAnswer(reason) => {
                crate::say(&format!(
                    "not sent  {name}: {reason}; it stays in the folder.\n"
                ));
                Ok(Some(Stop::Transient { retry_after: None }))
            }
            Answer::Status {
                status,
                problem,
                body,
                retry_after,
                location,
            } => match policy::classify(status, problem) {
                Class::Acknowledged => {
                    let receipt = self.file_away(path, &self.sent, "receipt", &body)?;
                    crate::say(&format!(
                        "sent      {name}: accepted by the server; receipt in {}.\n",
                        receipt.display()
                    ));
                    let rejected = rejected_rows(&body);
                    if rejected > 0 {
                        crate::say(&format!(
                            "warning   {name}: the server accepted the file but refused {rejected} row(s); see {} for which and why.\n",
                            receipt.display()
                        ));
                    }
                    Ok(None)
                }
                Class::Permanent => {
                    let problem = self.file_away(path, &self.failed, "problem", &body)?;
                    crate::say(&format!(
                        "failed    {name}: the server refused it ({status}): {}. Correct the file and put it in the folder again; details in {}.\n",
                        problem_text(&body),
                        problem.display()
                    ));
                    Ok(None)
                }
                Class::Transient => {
                    let why = match status {
                        408 => "the server timed out waiting for the upload".to_string(),
                        429 => "the server asked us to slow down".to_string(),
                        s => format!("the server is unavailable ({s})"),
                    };
                    crate::say(&format!(
                        "not sent  {name}: {why}; it stays in the folder.\n"
                    ));
                    Ok(Some(Stop::Transient { retry_after }))
                }
                Class::Setup => {
                    let why = if status == 401 {
                        "the server does not accept the API token (401): ask for a new token and update the token file".to_string()
                    } else if let Some(to) = location {
                        format!("the server address redirects ({status}) to {to}: fix --server (often https:// instead of http://)")
                    } else if matches!(status, 404 | 405) {
                        format!(
                            "no Vigilo report service at {} ({status}): check --server",
                            self.url
                        )
                    } else {
                        format!("unexpected answer {status}: check --server")
                    };
                    crate::say(&format!(
                        "not sent  {name}: {why}; reports stay in the folder.\n"
                    ));
                    Ok(Some(Stop::Setup))
                }
            },
        }
    }

    async fn post(&self, bytes: Vec<u8>, kind: policy::Kind, key: &str) -> Answer {
        use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
        let request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, kind.content_type())
            .header(AUTHORIZATION, self.auth.clone())
            .header("Idempotency-Key", key)
            .body(bytes);
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Answer::NoAnswer(self.describe(&e)),
        };
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header(RETRY_AFTER).and_then(|v| policy::parse_retry_after(&v));
        let location = header(LOCATION);
        let problem = header(CONTENT_TYPE)
            .is_some_and(|ct| ct.trim().starts_with("application/problem+json"));
        let status = response.status().as_u16();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_BODY.saturating_sub(body.len());
                    body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&[]));
                    if body.len() >= MAX_BODY {
                        break;
                    }
                }
                Ok(None) => break,
                // Headers arrived but the body did not: the server's decision is unknown
                // unless it was a failure, and an acknowledgement without its receipt is
                // safer resent (idempotent) than filed without proof.
                Err(e) if policy::classify(status, problem) != Class::Transient => {
                    return Answer::NoAnswer(self.describe(&e))
                }
                Err(_) => break,
            }
        }
        Answer::Status {
            status,
            problem,
            body,
            retry_after,
            location,
        }
    }

    /// Plain words for a failed request. The URL is shown (it holds no secret); the
    /// token lives only in a header marked sensitive.
    fn describe(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            format!("no answer from the server within {}", human(self.timeout))
        } else if e.is_connect() {
            let mut cause = String::new();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                cause = s.to_string();
                source = s.source();
            }
            format!("cannot connect to {} ({cause})", self.url.authority())
        } else {
            format!("the connection failed ({e})")
        }
    }

    /// Moves `path` into `folder` with the server's answer beside it as NAME.<what>.json.
    /// The answer is written first and made durable (temp name, fsync, rename): once the
    /// report leaves the queue, its proof must already be on disk, even across a power cut.
    fn file_away(
        &self,
        path: &Path,
        folder: &Path,
        what: &str,
        body: &[u8],
    ) -> Result<PathBuf, SendError> {
        let (target, answer) = free_names(folder, &file_name(path), what);
        let temp = folder.join(format!(".{}.tmp", file_name(&answer)));
        {
            let mut f = std::fs::File::create(&temp).map_err(io_err("write", &temp))?;
            f.write_all(body).map_err(io_err("write", &temp))?;
            f.sync_all().map_err(io_err("write", &temp))?;
        }
        std::fs::rename(&temp, &answer).map_err(io_err("save", &answer))?;
        sync_dir(folder);
        std::fs::rename(path, &target).map_err(io_err("move", path))?;
        sync_dir(folder);
        sync_dir(&self.dir);
        Ok(answer)
    }
}

/// Destination names in `folder` that do not overwrite anything: stations often reuse a
/// name such as `report.csv` every month, and last month's copy and receipt must survive.
fn free_names(folder: &Path, name: &str, what: &str) -> (PathBuf, PathBuf) {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.to_string(), String::new()),
    };
    let mut n: u32 = 1;
    loop {
        let candidate = if n == 1 {
            name.to_string()
        } else {
            format!("{stem}.{n}{ext}")
        };
        let target = folder.join(&candidate);
        let answer = folder.join(format!("{candidate}.{what}.json"));
        if (!target.exists() && !answer.exists()) || n == u32::MAX {
            return (target, answer);
        }
        n += 1;
    }
}

/// Makes renames in `dir` durable. Best effort: some file systems (and Windows) cannot
/// open a directory, and the rename itself has already happened.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn read_token(file: Option<&Path>) -> Result<String, SendError> {
    let raw = match file {
        Some(path) => std::fs::read_to_string(path).map_err(|source| SendError::TokenFile {
            path: path.to_path_buf(),
            source,
        })?,
        None => std::env::var("VIGILO_TOKEN").map_err(|_| SendError::NoToken)?,
    };
    let token = raw.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(SendError::BadToken);
    }
    Ok(token)
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Number of rows the server refused in an accepted batch (`"rejected": [...]`).
fn rejected_rows(body: &[u8]) -> usize {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("rejected").and_then(|r| r.as_array()).map(Vec::len))
        .unwrap_or(0)
}

/// The human part of an RFC 9457 problem: `detail`, else `title`, else the start of the body.
fn problem_text(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    field("detail")
        .or_else(|| field("title"))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let short: String = text.chars().take(200).collect();
            if short.trim().is_empty() {
                "no reason given".to_string()
            } else {
                short.trim().to_string()
            }
        })
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{} s", s.round())
    } else {
        format!("{} min", (s / 60.0).round())
    }
}

#[cfg(test)]
mod tests {
    use super::policy::*;
    use super::*;

    const CAP: Duration = Duration::from_secs(600);

    #[test]
    fn delays_grow_then_cap() {
        let full = |n| backoff(n, INITIAL_BACKOFF, CAP, 1.0);
        assert_eq!(full(0), Duration::from_secs(2));
        assert_eq!(full(1), Duration::from_secs(4));
        assert_eq!(full(2), Duration::from_secs(8));
        assert_eq!(full(8), Duration::from_secs(512));
        assert_eq!(full(9), CAP);
        assert_eq!(full(1000), CAP);
        assert_eq!(full(u32::MAX), CAP);
        let mut last = Duration::ZERO;
        for n in 0..20 {
            assert!(full(n) >= last);
            last = full(n);
        }
    }

    #[test]
    fn jitter_stays_in_range() {
        for n in 0..15 {
            let top = backoff(n, INITIAL_BACKOFF, CAP, 1.0);
            for j in [0.0, 0.1, 0.5, 0.999_999] {
                let d = backoff(n, INITIAL_BACKOFF, CAP, j);
                assert!(d >= top / 2 && d <= top, "attempt {n}, jitter {j}: {d:?}");
            }
            // Out-of-range draws are clamped, never panic.
            for j in [-3.0, 7.0, f64::NAN, f64::INFINITY] {
                let d = backoff(n, INITIAL_BACKOFF, CAP, j);
                assert!(d >= top / 2 && d <= top);
            }
        }
        // A cap too large for Duration arithmetic does not panic.
        let huge = Duration::from_secs(u64::MAX);
        assert!(backoff(70, INITIAL_BACKOFF, huge, 1.0) > Duration::ZERO);
    }

    #[test]
    fn retry_after_wins() {
        let ra = Some(Duration::from_secs(30));
        assert_eq!(
            next_delay(0, ra, INITIAL_BACKOFF, CAP, 0.3),
            Duration::from_secs(30)
        );
        // Longer than the cap: the server knows best.
        let long = Some(Duration::from_secs(1800));
        assert_eq!(
            next_delay(9, long, INITIAL_BACKOFF, CAP, 0.3),
            Duration::from_secs(1800)
        );
        // But not absurd, and never zero.
        let absurd = Some(Duration::from_secs(10 * 365 * 24 * 3600));
        assert_eq!(
            next_delay(0, absurd, INITIAL_BACKOFF, CAP, 0.3),
            MAX_RETRY_AFTER
        );
        assert_eq!(
            next_delay(0, Some(Duration::ZERO), INITIAL_BACKOFF, CAP, 0.3),
            MIN_RETRY_AFTER
        );
        assert_eq!(
            next_delay(3, None, INITIAL_BACKOFF, CAP, 1.0),
            Duration::from_secs(16)
        );
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-5"), None);
    }

    #[test]
    fn status_classes() {
        for problem in [false, true] {
            for s in [200, 201, 202, 204, 299] {
                assert_eq!(classify(s, problem), Class::Acknowledged, "{s}");
            }
            for s in [400, 403, 409, 413, 415, 422, 499] {
                assert_eq!(classify(s, problem), Class::Permanent, "{s}");
            }
            for s in [408, 429, 500, 502, 503, 504, 599] {
                assert_eq!(classify(s, problem), Class::Transient, "{s}");
            }
            for s in [100, 301, 302, 307, 308, 401, 600] {
                assert_eq!(classify(s, problem), Class::Setup, "{s}");
            }
        }
        // "Deployment not found" is about the report; a bare 404 is about the address.
        assert_eq!(classify(404, true), Class::Permanent);
        assert_eq!(classify(404, false), Class::Setup);
        assert_eq!(classify(405, false), Class::Setup);
    }

    #[test]
    fn which_files_are_reports() {
        assert_eq!(report_kind("2026-11.json"), Some(Kind::Json));
        assert_eq!(report_kind("TRAM-YTE.CSV"), Some(Kind::Csv));
        for skipped in [
            "a.json.part",
            "a.csv.tmp",
            ".a.json",
            ".~lock.a.csv#",
            "a.txt",
            "a.xlsx",
            "a.json.receipt.json",
            "a.csv.problem.json",
            "json",
        ] {
            assert_eq!(report_kind(skipped), None, "{skipped}");
        }
    }

    #[test]
    fn answers_read_for_people() {
        let problem = br#"{"type":"about:blank","title":"Invalid batch","status":422,"detail":"row 3: period 2026-13 is not a month"}"#;
        assert_eq!(
            problem_text(problem),
            "row 3: period 2026-13 is not a month"
        );
        assert_eq!(
            problem_text(br#"{"title":"Invalid batch"}"#),
            "Invalid batch"
        );
        assert_eq!(problem_text(b"Bad Request"), "Bad Request");
        assert_eq!(problem_text(b""), "no reason given");
        assert_eq!(
            rejected_rows(br#"{"accepted":3,"rejected":[{"row":2},{"row":5}]}"#),
            2
        );
        assert_eq!(rejected_rows(br#"{"rejected":[]}"#), 0);
        assert_eq!(rejected_rows(b"ok"), 0);
    }

    #[test]
    fn reused_names_do_not_overwrite() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (t, a) = free_names(dir.path(), "report.csv", "receipt");
        assert_eq!(t, dir.path().join("report.csv"));
        assert_eq!(a, dir.path().join("report.csv.receipt.json"));
        std::fs::write(&t, "x").unwrap_or_else(|e| panic!("{e}"));
        let (t2, a2) = free_names(dir.path(), "report.csv", "receipt");
        assert_eq!(t2, dir.path().join("report.2.csv"));
        assert_eq!(a2, dir.path().join("report.2.csv.receipt.json"));
    }
}
