use clap::{CommandFactory, Parser};
use promshard::cli::{CheckCommand, Cli, Command};
use promshard::generator::GenError;

fn main() {
    promshard::process::tune_allocator();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { what }) => {
            let (check, files): (fn(&_, &mut _, &mut _) -> i32, _) = match what {
                CheckCommand::Config { files } => (promshard::check::check_config, files),
                CheckCommand::WebConfig { files } => (promshard::check::check_web_config, files),
            };
            std::process::exit(check(
                &files,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            ));
        }
        Some(Command::Gen(args)) => {
            // Flags that are wrong together exit 2 like the ones clap rejects alone.
            let (options, addresses) = match args.resolve() {
                Ok(resolved) => resolved,
                Err(e) => {
                    let mut command = Cli::command();
                    command.build();
                    match command.find_subcommand_mut("gen") {
                        Some(gen_command) => gen_command,
                        None => &mut command,
                    }
                    .error(clap::error::ErrorKind::ValueValidation, e)
                    .exit()
                }
            };
            promshard::logging::init(cli.flags.log_level, cli.flags.log_format);
            let result = runtime().block_on(promshard::generator::run(options, addresses));
            if let Err(e) = result {
                tracing::error!(error = %e, "promshard gen stopped");
                let code = if matches!(e, GenError::InvalidOption { .. }) {
                    2
                } else {
                    1
                };
                std::process::exit(code);
            }
        }
        Some(Command::Demo(args)) => {
            // The replicas log to their own files; the demo prints progress.
            promshard::logging::init(promshard::cli::LogLevel::Warn, cli.flags.log_format);
            if let Err(e) = runtime().block_on(promshard::demo::run(args)) {
                eprintln!("promshard demo: {e}");
                std::process::exit(1);
            }
        }
        None => {
            promshard::logging::init(cli.flags.log_level, cli.flags.log_format);
            if let Err(e) = runtime().block_on(promshard::agent::run(cli.flags)) {
                tracing::error!(error = %e, "promshard stopped");
                std::process::exit(1);
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    }
}
