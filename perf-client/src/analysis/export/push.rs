//! Upload of a pprof profile to a Pyroscope server's ingest API (Grafana Pyroscope's
//! "server HTTP API": `POST /ingest?name=APP{k=v,...}&from=UNIX&until=UNIX&format=pprof`,
//! the gzipped profile as the body). Parca and Grafana Alloy's `pyroscope.receive_http`
//! accept the same request.
//!
//! Every attempt has a timeout; a transport failure, a 5xx or a 429 is retried a bounded
//! number of times with a doubling pause; any other non-2xx answer is a refusal and is not
//! retried. The caller keeps its file whatever happens: nothing here deletes anything.

use std::time::Duration;

/// Where and how to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// The server's base URL (`http://host:4040`), or its ingest URL (`…/ingest`).
    pub url: String,
    /// The application name (Pyroscope's `name`, before the labels).
    pub app: String,
    /// Labels added to the name as `{k=v,...}`.
    pub labels: Vec<(String, String)>,
    /// Timeout of one attempt (connect, send and answer).
    pub timeout: Duration,
    /// Attempts after the first one, for transport failures, 5xx and 429.
    pub retries: u32,
    /// The pause before the first retry; doubled before each further one.
    pub backoff: Duration,
}

impl PushTarget {
    /// A target with a 10 s timeout, 3 retries and a 250 ms first pause.
    pub fn new(url: impl Into<String>, app: impl Into<String>) -> Self {
        PushTarget {
            url: url.into(),
            app: app.into(),
            labels: Vec::new(),
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(250),
        }
    }

    /// The ingest URL: `url` itself when it ends in `/ingest`, else `url/ingest`.
    pub fn ingest_url(&self) -> String {
        let base = self.url.trim_end_matches('/');
        if base.ends_with("/ingest") {
            base.to_owned()
        } else {
            format!("{base}/ingest")
        }
    }

    /// Pyroscope's `name` parameter: `app{k=v,...}` (just `app` without labels).
    pub fn name(&self) -> String {
        if self.labels.is_empty() {
            return self.app.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}{{{}}}", self.app, labels.join(","))
    }
}

/// One profile to push.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    /// The gzipped pprof profile.
    pub profile: &'a [u8],
    /// UNIX time (seconds) the profile starts.
    pub from: u64,
    /// UNIX time (seconds) it ends.
    pub until: u64,
    /// The sampling frequency in Hz, when known (`sampleRate`).
    pub sample_rate: Option<u64>,
}

/// Errors of [`push`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The server answered with a status that is not success and not worth retrying
    /// (or still failing after the retries).
    #[error("{url} refused the profile: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Refused {
        /// The ingest URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// No answer after every attempt (connection refused, timeout, reset).
    #[error("pushing to {url} failed after {attempts} attempts: {last}")]
    Unreachable {
        /// The ingest URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: String,
    },
}

/// What a successful push took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushReceipt {
    /// The HTTP status (2xx).
    pub status: u16,
    /// Attempts made (1 when the first one succeeded).
    pub attempts: u32,
}

/// Pushes `upload` to `target`'s ingest API.
///
/// # Errors
///
/// [`PushError::Refused`] when the server answers a non-2xx status (after the retries for
/// 5xx and 429), [`PushError::Unreachable`] when no attempt got an answer.
pub fn push(target: &PushTarget, upload: &Upload<'_>) -> Result<PushReceipt, PushError> {
    let url = target.ingest_url();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(target.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let name = target.name();
    let attempts_max = target.retries.saturating_add(1);
    let mut pause = target.backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = agent
            .post(&url)
            .query("name", &name)
            .query("from", upload.from.to_string())
            .query("until", upload.until.to_string())
            .query("format", "pprof")
            .query("spyName", "perf-client")
            .header("Content-Type", "application/octet-stream");
        if let Some(hz) = upload.sample_rate {
            req = req.query("sampleRate", hz.to_string());
        }
        let retry = match req.send(upload.profile) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                if (200..300).contains(&status) {
                    return Ok(PushReceipt {
                        status,
                        attempts: attempt,
                    });
                }
                let body: String = resp
                    .body_mut()
                    .read_to_string()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                let refused = PushError::Refused {
                    url: url.clone(),
                    status,
                    body: body.trim().to_owned(),
                };
                if !(status >= 500 || status == 429) {
                    return Err(refused);
                }
                refused
            }
            Err(e) => PushError::Unreachable {
                url: url.clone(),
                attempts: attempt,
                last: e.to_string(),
            },
        };
        if attempt >= attempts_max {
            return Err(retry);
        }
        std::thread::sleep(pause);
        pause = pause.saturating_mul(2);
    }
}

/// Encodes `file` as pprof with `opts` ([`super::pprof::encode`]) and pushes it. The profile spans
/// `until` minus the span of its sample timestamps (at least one second) to `until`:
/// sample times are the event's clock, not wall time, so `until` comes from the caller
/// (the file's modification time: when the capture ended).
///
/// # Errors
///
/// The export's errors, and [`PushError`] as [`ExportError::Push`].
///
/// [`ExportError::Push`]: super::ExportError::Push
pub fn push_perf_data(
    target: &PushTarget,
    file: &crate::perf_data::PerfData,
    opts: super::ExportOptions,
    until: std::time::SystemTime,
) -> Result<PushReceipt, super::ExportError> {
    let (profile, sum) = super::pprof::encode(file, opts)?;
    let until = until
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().max(1));
    let span = sum.duration_nanos.div_ceil(1_000_000_000).max(1);
    let sample_rate = file.attrs().first().and_then(|a| {
        (a.attr.flags() & crate::perf_data::attr::flag::FREQ != 0).then(|| a.attr.sample_period())
    });
    let upload = Upload {
        profile: &profile,
        from: until.saturating_sub(span),
        until,
        sample_rate,
    };
    Ok(push(target, &upload)?)
}
