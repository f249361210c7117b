use std::process::ExitCode;

fn main() -> ExitCode {
    let env = temporal_supervisor::process_env();
    ExitCode::from(temporal_supervisor::run(std::env::args_os(), &env))
}
