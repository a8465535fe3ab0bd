//! `perf-client stream`: capture live and print one line per record as it is read.

use std::ffi::OsString;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use serde_json::json;

use perf_client::analysis::render;
use perf_client::kernel::capture::{Capture, CaptureOptions, RunOptions, Summary};
use perf_client::kernel::event::EventConfig;
use perf_client::records::bits::{self, sample as st};

use super::args::{EventArgs, RingArgs, TargetArgs};

/// Flags of `perf-client stream`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    events: EventArgs,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    ring: RingArgs,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// sample_type bits, comma-separated (ip,tid,time,addr,read,callchain,id,cpu,period,
    /// stream_id,raw,...,identifier,...,data_page_size,code_page_size,weight_struct).
    #[arg(long = "sample-type")]
    sample_type: Option<String>,
    /// read_format bits, comma-separated (total_time_enabled,total_time_running,id,group,lost).
    #[arg(long = "read-format")]
    read_format: Option<String>,
    /// Record the data address (PERF_SAMPLE_ADDR).
    #[arg(short = 'd', long = "data")]
    addr: bool,
    /// Context-switch records (attr.context_switch).
    #[arg(long = "switch-events")]
    switch_events: bool,
    /// Only user space (attr.exclude_kernel), as perf_event_paranoid=2 requires unprivileged,
    /// for the events that have no :u/:k/:h modifier of their own.
    #[arg(long = "user-only")]
    user_only: bool,
    /// Do not follow children (attr.inherit = 0).
    #[arg(long = "no-inherit")]
    no_inherit: bool,
    /// Flight recorder: overwrite rings read once at the end.
    #[arg(long)]
    overwrite: bool,
    /// Wake the reader every N records (attr.wakeup_events; default: half the ring).
    #[arg(long = "wakeup-events")]
    wakeup_events: Option<u32>,
    /// Wake the reader every BYTES bytes written (attr.wakeup_watermark).
    #[arg(long = "wakeup-watermark", conflicts_with = "wakeup_events")]
    wakeup_watermark: Option<u32>,
    /// Stop after this many seconds (default: when the command or process exits, or
    /// Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// The command to run under the events; with -p/-t it runs meanwhile, untraced, and the
    /// capture ends when it exits.
    #[arg(last = true)]
    command: Vec<OsString>,
}

/// The events: perf's defaults (`kernel::select`), then what only `stream` adds.
fn build_events(args: &Args) -> anyhow::Result<Vec<EventConfig>> {
    let mut spec = args.events.spec();
    spec.exclude_kernel = args.user_only;
    if let Some(list) = &args.sample_type {
        spec.sample_type = Some(
            bits::parse_names(list, bits::SAMPLE_NAMES)
                .map_err(|n| anyhow::anyhow!("unknown sample_type bit {n:?}"))?,
        );
    }
    let read_format = match &args.read_format {
        Some(list) => Some(
            bits::parse_names(list, bits::READ_FORMAT_NAMES)
                .map_err(|n| anyhow::anyhow!("unknown read_format bit {n:?}"))?,
        ),
        None => None,
    };
    let selected = spec.build()?;
    for w in &selected.warnings {
        eprintln!("{w}");
    }
    let mut out = Vec::with_capacity(selected.events.len());
    for (i, mut c) in selected.events.into_iter().enumerate() {
        if args.addr {
            let t = c.attr().sample_type | st::ADDR;
            c = c.sample_type(t);
        }
        if let Some(rf) = read_format {
            c = c.read_format(rf);
        }
        if let Some(n) = args.wakeup_events {
            c = c.wakeup_events(n);
        }
        if let Some(n) = args.wakeup_watermark {
            c = c.wakeup_watermark(n);
        }
        if i == 0 {
            c = c.context_switch(args.switch_events);
        }
        out.push(c);
    }
    Ok(out)
}

/// Runs the capture.
pub fn run(args: Args) -> anyhow::Result<()> {
    let events = build_events(&args)?;
    let targets = args.target.spec(&args.command);
    let mut opts = CaptureOptions::new(events, targets.target()?);
    opts.command = targets.side_command();
    opts.data_pages = args.ring.pages;
    opts.overwrite = args.overwrite;
    opts.inherit = !args.no_inherit;
    let mut capture = Capture::start(opts)?;
    let ctx = capture.parse_context().clone();
    let run_opts = RunOptions {
        duration: args.duration.map(Duration::from_secs_f64),
        // Ctrl-C ends the capture with its final drain and summary.
        stop: Some(perf_client::kernel::capture::stop_on_interrupt()?),
        ..Default::default()
    };

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut last_flush = Instant::now();
    let mut parse_errors = 0u64;
    let json = args.json;
    let summary = capture.run(&run_opts, |rec| -> anyhow::Result<()> {
        match ctx.parse(rec.bytes) {
            Ok(parsed) => {
                if json {
                    let mut v = render::to_json(&parsed);
                    v["ring_cpu"] = rec.cpu.into();
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(out, "{}", render::to_line(&parsed))?;
                }
            }
            Err(e) => {
                parse_errors += 1;
                if json {
                    writeln!(
                        out,
                        "{}",
                        json!({ "type": "PARSE_ERROR", "error": e.to_string() })
                    )?;
                } else {
                    writeln!(out, "PARSE_ERROR {e}")?;
                }
            }
        }
        if last_flush.elapsed() >= Duration::from_millis(50) {
            out.flush()?;
            last_flush = Instant::now();
        }
        Ok(())
    })?;
    print_summary(&mut out, &summary, &capture, parse_errors, json)?;
    out.flush()?;
    Ok(())
}

fn print_summary(
    out: &mut impl Write,
    s: &Summary,
    capture: &Capture,
    parse_errors: u64,
    json: bool,
) -> io::Result<()> {
    let names: Vec<String> = capture.configs().iter().map(|c| c.name()).collect();
    let mut counts = vec![0u64; names.len()];
    for e in &s.events {
        if let (Some(c), Some(v)) = (counts.get_mut(e.config), e.values.values.first()) {
            *c += v.value;
        }
    }
    let exit = s.exit_status.map(|e| e.to_string());
    if json {
        let rings: Vec<_> = s
            .rings
            .iter()
            .map(|r| {
                json!({ "cpu": r.cpu, "records": r.records, "bytes": r.bytes,
                        "lost_reported": r.lost_reported, "lost_kernel": r.lost_kernel })
            })
            .collect();
        let counters: Vec<_> = names
            .iter()
            .zip(&counts)
            .map(|(n, c)| json!({ "event": n, "count": c }))
            .collect();
        writeln!(
            out,
            "{}",
            json!({ "type": "SUMMARY", "records": s.records(), "lost": s.lost(),
                    "lost_reported": s.lost_reported(), "parse_errors": parse_errors,
                    "snapshot_unreadable_bytes": s.snapshot_unreadable_bytes(),
                    "wakeups": s.wakeups, "timeouts": s.timeouts, "rings": rings,
                    "counters": counters, "exit": exit })
        )
    } else {
        let counters: Vec<String> = names
            .iter()
            .zip(&counts)
            .map(|(n, c)| format!("{n}={c}"))
            .collect();
        let rings: Vec<String> = s
            .rings
            .iter()
            .map(|r| {
                let kernel = r
                    .lost_kernel
                    .map_or_else(|| "?".to_string(), |l| l.to_string());
                format!(
                    "cpu{}:records={},lost={},lost_reported={}",
                    r.cpu, r.records, kernel, r.lost_reported
                )
            })
            .collect();
        writeln!(
            out,
            "SUMMARY records={} lost={} lost_reported={} parse_errors={} \
             snapshot_unreadable_bytes={} rings=[{}] wakeups={} timeouts={} counters=[{}] exit={}",
            s.records(),
            s.lost(),
            s.lost_reported(),
            parse_errors,
            s.snapshot_unreadable_bytes(),
            rings.join(" "),
            s.wakeups,
            s.timeouts,
            counters.join(" "),
            exit.as_deref().unwrap_or("-"),
        )
    }
}
