//! `perf-client script [-i FILE] [-F FIELDS] [--json]`: one line per sample, like
//! `perf script`, with tracepoint fields and `--call-graph dwarf` unwinding.

use std::io::Write;
use std::path::PathBuf;

use perf_client::analysis::script::{script_with, FieldSpec, ScriptFormat, ScriptOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file (`-`: perf's pipe format on stdin).
    #[arg(short = 'i', long = "input", default_value = "perf.data")]
    input: PathBuf,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Fields, as perf script's -F: comm,tid,pid,time,cpu,event,trace,ip,sym,symoff,dso,
    /// period,srcline; or +field/-field to change perf's defaults.
    #[arg(short = 'F', long = "fields", value_name = "FIELDS", value_parser = FieldSpec::parse,
          allow_hyphen_values = true)]
    fields: Option<FieldSpec>,
    /// Show context switches (PERF_RECORD_SWITCH, SWITCH_CPU_WIDE from record
    /// --switch-events), as perf script --show-switch-events.
    #[arg(long = "show-switch-events")]
    show_switch_events: bool,
    /// Show the calls inlined at each frame unwound by `--call-graph dwarf` as frames of
    /// their own, marked ` (inlined)`, from the object's DWARF (perf's `--inline`, the
    /// default).
    #[arg(long, overrides_with = "no_inline")]
    inline: bool,
    /// Do not show inlined calls as frames (perf's `--no-inline`).
    #[arg(long, overrides_with = "inline")]
    no_inline: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Read, not mapped: the binary has no unsafe code, and a mapping is sound only while
    // nothing writes the file, which the command cannot know. `-` reads stdin.
    let file = super::open_input(&args.input)?;
    if let Some(r) = file.recovered() {
        eprintln!("perf-client script: {}: {r}", args.input.display());
    }
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::new(stdout);
    let opts = ScriptOptions {
        format: if args.json {
            ScriptFormat::Json
        } else {
            ScriptFormat::Text
        },
        fields: args.fields.unwrap_or_default(),
        show_switch_events: args.show_switch_events,
        inline: !args.no_inline,
    };
    let sum = script_with(&file, &mut out, &opts)?;
    out.flush()?;
    for line in sum.unread.describe(sum.samples) {
        eprintln!("perf-client script: {line}");
    }
    if sum.samples == 0 && !sum.unread.uninterpreted.is_empty() {
        anyhow::bail!(
            "{}: no sample could be read: its records are of types this reader does not interpret",
            args.input.display()
        );
    }
    if sum.lost_samples > 0 || sum.lost > 0 {
        eprintln!(
            "perf-client script: {} samples; {} lost samples, {} lost ring records",
            sum.samples, sum.lost_samples, sum.lost
        );
    }
    if let Some(line) = sum.unwind.describe() {
        eprintln!("perf-client script: {line}");
    }
    Ok(())
}
