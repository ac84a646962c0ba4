use clap::Parser;

/// mimalloc instead of glibc's malloc: a redirect allocates a handful of small strings, and
/// glibc's malloc/free were 9 % of its CPU in a profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// qrsaas: QR codes, redirects, analytics.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: qrsaas::startup::Command,
}

fn main() -> anyhow::Result<()> {
    qrsaas::startup::main(Cli::parse().command)
}
