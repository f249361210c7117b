use std::process::ExitCode;

fn main() -> ExitCode {
    let env = temporal_supervisor::Env::from_process();
    ExitCode::from(temporal_supervisor::run(std::env::args_os(), &env))
}
