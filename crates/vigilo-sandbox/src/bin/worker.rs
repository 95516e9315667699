fn main() -> std::process::ExitCode {
    vigilo_sandbox::worker_main()
}
