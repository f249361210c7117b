use std::process::ExitCode;

fn main() -> ExitCode {
    let env = temporal_supervisor::Env::from_os(std::env::vars_os());
    ExitCode::from(temporal_supervisor::run(std::env::args_os(), &env))
}
