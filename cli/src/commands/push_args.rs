//! `--push URL` and its companions, shared by `export` and `record`.

use perf_client::analysis::export::push::PushTarget;

#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// Upload pprof to a Pyroscope server's ingest API (http://host:4040).
    #[arg(long, value_name = "URL")]
    pub push: Option<String>,
    /// The application name of the upload (Pyroscope's `name`).
    #[arg(long, default_value = "perf-client", requires = "push")]
    pub app: String,
    /// A label of the upload, `key=value` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label, requires = "push")]
    pub labels: Vec<(String, String)>,
    /// Seconds one upload attempt may take.
    #[arg(long, default_value = "10", value_name = "SECS", requires = "push")]
    pub push_timeout: u64,
    /// Further attempts after a failed upload (no answer, 5xx, 429).
    #[arg(long, default_value = "3", requires = "push")]
    pub push_retries: u32,
}

impl PushArgs {
    /// The push target, when `--push` was given.
    pub fn target(&self) -> Option<PushTarget> {
        let url = self.push.as_ref()?;
        let mut t = PushTarget::new(url.clone(), self.app.clone());
        t.labels = self.labels.clone();
        t.timeout = std::time::Duration::from_secs(self.push_timeout.max(1));
        t.retries = self.push_retries;
        Some(t)
    }
}

/// `key=value` of `--label`.
fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}
