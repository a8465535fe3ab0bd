//! `perf-client export --format pprof|firefox|folded [-i perf.data] [-o OUT]
//! [--inline|--no-inline] [--push URL]`: the capture in the formats other tools read.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use perf_client::analysis::export::{firefox, folded, pprof, push, ExportOptions};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// gzipped profile.proto, for `go tool pprof`, Pyroscope, Parca.
    Pprof,
    /// The Firefox Profiler's JSON (profiler.firefox.com, "Load a profile from file").
    Firefox,
    /// Folded stacks (`comm;outer;inner N`), for inferno and FlameGraph.
    Folded,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// Input file (`-`: perf's pipe format on stdin, as `perf record -o -` writes).
    #[arg(short = 'i', long = "input", default_value = "perf.data")]
    input: PathBuf,
    /// Output file (`-`: stdout). Default: perf.pb.gz (pprof), perf.json (firefox),
    /// stdout (folded); with --push, pprof is only uploaded unless -o is given.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Show the calls inlined at an address as frames of their own, from the object's
    /// DWARF (perf's `--inline`, the default): folded `name_[i]`, pprof one Line per
    /// inlined call, Firefox frames in the "Inlined" subcategory.
    #[arg(long, overrides_with = "no_inline")]
    inline: bool,
    /// Do not show inlined calls (perf's `--no-inline`): one frame, one pprof Line, per
    /// address.
    #[arg(long, overrides_with = "inline")]
    no_inline: bool,
    #[command(flatten)]
    push: super::push_args::PushArgs,
}

fn create(path: &Path) -> anyhow::Result<Box<dyn Write>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::BufWriter::new(std::io::stdout().lock())));
    }
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(Box::new(std::io::BufWriter::new(f)))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.push.push.is_some() && args.format != Format::Pprof {
        bail!("--push uploads pprof: use --format pprof");
    }
    let file = super::open_input(&args.input)?;
    let opts = ExportOptions {
        inline: !args.no_inline,
    };
    let default_out = match args.format {
        Format::Pprof if args.push.push.is_some() => None,
        Format::Pprof => Some(PathBuf::from("perf.pb.gz")),
        Format::Firefox => Some(PathBuf::from("perf.json")),
        Format::Folded => Some(PathBuf::from("-")),
    };
    let output = args.output.clone().or(default_out);
    let named = |p: &Path| {
        if p == Path::new("-") {
            "stdout".to_owned()
        } else {
            p.display().to_string()
        }
    };
    if let Some(out) = &output {
        let w = create(out)?;
        match args.format {
            Format::Pprof => {
                let s = pprof::write(&file, opts, w)?;
                eprintln!(
                    "perf-client export: {} samples (period {}), {} locations, {} functions, {} mappings → {}",
                    s.samples, s.period, s.locations, s.functions, s.mappings, named(out)
                );
            }
            Format::Firefox => {
                let s = firefox::write(&file, opts, w)?;
                eprintln!(
                    "perf-client export: {} samples, {} threads in {} processes, {} lost markers → {} \
                     (open at https://profiler.firefox.com: Load a profile from file)",
                    s.samples, s.threads, s.processes, s.lost_markers, named(out)
                );
            }
            Format::Folded => {
                let s = folded::write(&file, opts, w)?;
                if out != Path::new("-") {
                    eprintln!(
                        "perf-client export: {} stacks (period {}) → {}",
                        s.stacks,
                        s.period,
                        named(out)
                    );
                }
            }
        }
    }
    if let Some(target) = args.push.target() {
        // When the capture ended: the file's modification time (now for stdin).
        let until = std::fs::metadata(&args.input)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| std::time::SystemTime::now());
        let r = push::push_perf_data(&target, &file, opts, until)?;
        eprintln!(
            "perf-client export: pushed to {} as {} (HTTP {}, {} attempt{})",
            target.ingest_url(),
            target.name(),
            r.status,
            r.attempts,
            if r.attempts == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
