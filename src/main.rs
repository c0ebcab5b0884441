use clap::Parser;
use promshard::cli::{CheckCommand, Cli, Command};

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check {
            what: CheckCommand::Config { files },
        }) => {
            let code = promshard::check::check_config(
                &files,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            std::process::exit(code);
        }
        None => {
            promshard::logging::init(cli.flags.log_level, cli.flags.log_format);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    std::process::exit(1);
                }
            };
            if let Err(e) = runtime.block_on(promshard::agent::run(cli.flags)) {
                tracing::error!(error = %e, "promshard stopped");
                std::process::exit(1);
            }
        }
    }
}
