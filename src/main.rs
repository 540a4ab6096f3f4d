//! Entry point: parse the configuration, set up logging on stderr, and serve
//! the one tool handler over the chosen transport.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rmcp::ServiceExt;
use secrecy::SecretString;

use osc_secrets_mcp::config::{self, Cli, Command, EmulatorArgs, ServeArgs, Transport};
use osc_secrets_mcp::emulator::{Emulator, EmulatorOptions, ListShape};
use osc_secrets_mcp::http::{self, HttpConfig};
use osc_secrets_mcp::osc::{OscClient, OscConfig};
use osc_secrets_mcp::tools::SecretsServer;
use osc_secrets_mcp::{docs, logging, redact};

fn main() -> ExitCode {
    logging::install_panic_hook();
    let cli = Cli::parse();
    logging::init(cli.serve.log_level);
    let result = match cli.command {
        Some(Command::Emulator(args)) => runtime(true).and_then(|rt| rt.block_on(emulator(args))),
        Some(Command::GenerateDocs { check, root }) => docs::generate(&root, check),
        None => runtime(cli.serve.transport == Transport::Http)
            .and_then(|rt| rt.block_on(serve(cli.serve))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("osc-secrets-mcp: {message}");
            ExitCode::FAILURE
        }
    }
}

/// stdio serves one client, so one thread is enough and starts fastest.
fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let (token, base_url, _emulator) = if args.sandbox {
        let token = SecretString::from(format!("sandbox-{:032x}", rand::random::<u128>()));
        let emulator = Emulator::start(
            ([127, 0, 0, 1], 0).into(),
            EmulatorOptions {
                token: Some(token.clone()),
                seed: true,
                ..EmulatorOptions::default()
            },
        )
        .await
        .map_err(|e| format!("cannot start the sandbox emulator: {e}"))?;
        eprintln!(
            "osc-secrets-mcp: SANDBOX mode. Serving against an offline OSC emulator at {} with sample keys; \
             nothing reaches Open Source Cloud and nothing is kept after exit.",
            emulator.base_url()
        );
        (token, emulator.base_url(), Some(emulator))
    } else {
        let token = config::token_from_env().ok_or_else(config::missing_token_message)?;
        (token, args.base_url(), None)
    };
    let upstream_token = token.clone();
    let osc = OscClient::new(OscConfig {
        base_url,
        token,
        request_timeout: args.request_timeout(),
        connect_timeout: args.connect_timeout(),
        retry: args.retry(),
    })
    .map_err(|e| e.to_string())?;
    let server = SecretsServer::new(Arc::new(osc));
    match args.transport {
        Transport::Stdio => {
            let running = server
                .serve(rmcp::transport::stdio_pipes())
                .await
                .map_err(|e| {
                    format!(
                        "MCP initialization over stdio failed: {}",
                        redact::handshake_failure(&e)
                    )
                })?;
            running
                .waiting()
                .await
                .map_err(|e| format!("the stdio session ended: {}", redact::task_failure(&e)))?;
            Ok(())
        }
        Transport::Http => {
            let config = http_config(&args)?;
            for warning in config.check(&upstream_token)? {
                eprintln!("osc-secrets-mcp: warning: {warning}");
            }
            http::serve(server, config, logging::shutdown_signal())
                .await
                .map_err(|e| e.to_string())
        }
    }
}

fn http_config(args: &ServeArgs) -> Result<HttpConfig, String> {
    let http = &args.http;
    let size = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
    Ok(HttpConfig {
        listen: args.listen,
        auth_token: http.auth_token()?,
        allowed_hosts: http.allowed_hosts.clone(),
        allowed_origins: http.allowed_origins.clone(),
        stateless: http.stateless,
        max_body_bytes: size(http.max_body_bytes),
        max_sessions: size(u64::from(http.max_sessions)),
        session_idle: Duration::from_secs(http.session_idle_secs),
        max_concurrent_per_client: size(u64::from(http.max_concurrent_per_client)),
        shutdown_grace: Duration::from_secs(http.shutdown_grace_secs),
    })
}

async fn emulator(args: EmulatorArgs) -> Result<(), String> {
    let token = config::token_from_env();
    let token_set = token.is_some();
    let emulator = Emulator::start(
        ([127, 0, 0, 1], args.port).into(),
        EmulatorOptions {
            token,
            seed: !args.empty,
            list_shape: if args.wrapped_list {
                ListShape::Wrapped
            } else {
                ListShape::Array
            },
        },
    )
    .await
    .map_err(|e| format!("cannot start the emulator on port {}: {e}", args.port))?;
    eprintln!(
        "osc-secrets-mcp: OSC emulator listening at {} ({}). Point the server at it with OSC_API_URL={}. Ctrl-C stops it.",
        emulator.base_url(),
        if token_set {
            "accepting only the token in OSC_ACCESS_TOKEN/OSC_PAT_JWT"
        } else {
            "accepting any bearer token"
        },
        emulator.base_url()
    );
    logging::shutdown_signal().await;
    emulator.shutdown();
    Ok(())
}
