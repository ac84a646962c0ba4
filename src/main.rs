use clap::Parser;

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
