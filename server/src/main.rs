use clap::Parser;
use riskline::config::Config;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    if let Some(riskline::config::Command::RotateSigningKey) = config.command {
        match riskline::rotate_signing_key(&config).await {
            Ok(kid) => println!("The active signing key is now {kid}."),
            Err(e) => {
                eprintln!("riskline: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Some(riskline::config::Command::SeedDemo {
        users,
        log_events,
        days,
    }) = config.command
    {
        let plan = riskline_core::demo_seed::SeedPlan {
            users,
            log_events,
            days,
        };
        match riskline::seed_demo(&config, &plan).await {
            Ok(r) => println!(
                "Seeded {} streams, {} users ({} at MEDIUM or HIGH), {} risk history entries and {} log events into {}.",
                r.providers, r.users, r.at_risk, r.detections, r.log_events, config.database_url
            ),
            Err(e) => {
                eprintln!("riskline: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let server = match riskline::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("riskline: {e}");
            std::process::exit(1);
        }
    };
    println!("Riskline is ready at {}/", server.base_url);
    println!("Sign in at {}/login", server.base_url);
    println!("Listening on http://{}", server.addr);
    if let Err(e) = server.run_until_signal().await {
        eprintln!("riskline: {e}");
        std::process::exit(1);
    }
}
