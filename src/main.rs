use ephemail::cli::Invocation;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let invocation = Invocation::parse(std::env::args_os().collect());
    ephemail::telemetry::logs::init(invocation.log_format());
    match ephemail::cli::run(invocation).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Every mail allocates its parse, its rows and its replies; mimalloc spends less on that than
/// glibc's allocator (6 % of ephemail's CPU per mail, `docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
