//! DPoP load material for `bench/load.sh` (issue 14): DPoP-bound tokens from authd's `/token`,
//! each obtained with a proof, and single-use proofs for the wrk scripts.
//!
//! - `dpop-proofs pairs --authd URL --username U --password P --htu URL --count N --out FILE`:
//!   one DPoP-bound user token (password grant), checked with one request to `--htu`, then N
//!   lines `TOKEN PROOF`, each proof for `GET --htu` with its own `jti` (for `bench/wrk/dpop.lua`).
//! - `dpop-proofs tokens --authd URL --client-id ID --client-secret S --count N --out FILE`:
//!   N DPoP-bound client_credentials tokens, one a line (for `bench/wrk/rotate.lua`).
//!
//! Proofs carry `iat` = the time they are written: use them within authd's proof window.

mod proof;

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use proof::{ProofFor, ProofKey};
use reqwest::StatusCode;

#[derive(Parser)]
#[command(about = "DPoP-bound tokens and single-use proofs for bench/load.sh")]
struct Cli {
    /// authd's base URL, as its issuer names it (the `htu` of token requests).
    #[arg(long, global = true, default_value = "http://127.0.0.1:18080")]
    authd: String,
    /// Proof algorithm: ES256 or EdDSA.
    #[arg(long, global = true, default_value = "ES256")]
    alg: String,
    /// How many lines to write.
    #[arg(long, global = true, default_value_t = 10_000)]
    count: usize,
    /// Where to write them.
    #[arg(long, global = true, default_value = "dpop.txt")]
    out: PathBuf,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// One bound user token and COUNT `TOKEN PROOF` lines for `GET HTU`.
    Pairs {
        #[arg(long)]
        username: String,
        #[arg(long, env = "DPOP_PROOFS_PASSWORD")]
        password: String,
        /// The URL every proof names, e.g. http://127.0.0.1:18080/me.
        #[arg(long)]
        htu: String,
    },
    /// COUNT bound client_credentials tokens.
    Tokens {
        #[arg(long)]
        client_id: String,
        #[arg(long, env = "DPOP_PROOFS_CLIENT_SECRET")]
        client_secret: String,
    },
}

/// One client: its proof key, HTTP client and the last nonce authd asked for.
struct Client {
    http: reqwest::Client,
    key: ProofKey,
    rng: SystemRandom,
    token_url: String,
}

impl Client {
    /// A DPoP-bound token for `form`, retrying once if authd asks for a nonce (RFC 9449 section 8).
    async fn bound_token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<String, String> {
        let mut nonce: Option<String> = None;
        for _ in 0..2 {
            let proof = self.key.proof(
                &ProofFor {
                    method: "POST",
                    url: &self.token_url,
                    token: None,
                    nonce: nonce.as_deref(),
                },
                &self.rng,
            )?;
            let mut request = self
                .http
                .post(&self.token_url)
                .header("DPoP", proof)
                .form(form);
            if let Some((id, secret)) = basic {
                request = request.basic_auth(id, Some(secret));
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("POST /token: {e}"))?;
            let status = response.status();
            let asked_nonce = header(&response, "dpop-nonce");
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| format!("POST /token answered no JSON: {e}"))?;
            if status == StatusCode::BAD_REQUEST && body["error"] == "use_dpop_nonce" {
                nonce = Some(asked_nonce.ok_or("use_dpop_nonce without a DPoP-Nonce header")?);
                continue;
            }
            if status != StatusCode::OK {
                return Err(format!("POST /token answered {status}: {body}"));
            }
            if !body["token_type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("dpop"))
            {
                return Err(format!(
                    "authd issued a {} token, not a DPoP-bound one: does it support DPoP?",
                    body["token_type"]
                ));
            }
            return body["access_token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| "no access_token in the answer".to_owned());
        }
        Err("authd asked for a nonce twice".into())
    }

    /// Sends one request to `htu` with a proof; returns the nonce authd wants in later proofs,
    /// if it asked for one, or fails unless the request is accepted.
    async fn probe(&self, htu: &str, token: &str) -> Result<Option<String>, String> {
        let mut nonce = None;
        for _ in 0..2 {
            let proof = self.key.proof(
                &ProofFor {
                    method: "GET",
                    url: htu,
                    token: Some(token),
                    nonce: nonce.as_deref(),
                },
                &self.rng,
            )?;
            let response = self
                .http
                .get(htu)
                .header("Authorization", format!("DPoP {token}"))
                .header("DPoP", proof)
                .send()
                .await
                .map_err(|e| format!("GET {htu}: {e}"))?;
            if response.status().is_success() {
                return Ok(nonce);
            }
            let challenge = header(&response, "www-authenticate").unwrap_or_default();
            match header(&response, "dpop-nonce") {
                Some(asked) if nonce.is_none() && challenge.contains("use_dpop_nonce") => {
                    nonce = Some(asked);
                }
                _ => {
                    return Err(format!(
                        "GET {htu} with a fresh proof answered {}: {challenge}",
                        response.status()
                    ));
                }
            }
        }
        Err(format!("GET {htu} asked for a nonce twice"))
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::main]
async fn main() {
    if let Err(error) = run(Cli::parse()).await {
        eprintln!("dpop-proofs: {error}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let authd = cli.authd.trim_end_matches('/');
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        key: ProofKey::generate(&cli.alg)?,
        rng: SystemRandom::new(),
        token_url: format!("{authd}/token"),
    });
    let file = std::fs::File::create(&cli.out)
        .map_err(|e| format!("creating {}: {e}", cli.out.display()))?;
    let mut out = BufWriter::new(file);
    let write_error = |e: std::io::Error| format!("writing {}: {e}", cli.out.display());
    match &cli.what {
        What::Pairs {
            username,
            password,
            htu,
        } => {
            let form = [
                ("grant_type", "password"),
                ("username", username.as_str()),
                ("password", password.as_str()),
            ];
            let token = client.bound_token(&form, None).await?;
            let nonce = client.probe(htu, &token).await?;
            if nonce.is_some() {
                eprintln!("dpop-proofs: authd asks for nonces; proofs carry the current one");
            }
            let what = ProofFor {
                method: "GET",
                url: htu,
                token: Some(&token),
                nonce: nonce.as_deref(),
            };
            for _ in 0..cli.count {
                let proof = client.key.proof(&what, &client.rng)?;
                writeln!(out, "{token} {proof}").map_err(write_error)?;
            }
        }
        What::Tokens {
            client_id,
            client_secret,
        } => {
            // A few requests in flight: enough to mint thousands in seconds, not a load test.
            let mut minted = futures_util::stream::iter(0..cli.count)
                .map(|_| {
                    let client = client.clone();
                    async move {
                        client
                            .bound_token(
                                &[("grant_type", "client_credentials")],
                                Some((client_id, client_secret)),
                            )
                            .await
                    }
                })
                .buffer_unordered(8);
            while let Some(token) = minted.next().await {
                writeln!(out, "{}", token?).map_err(write_error)?;
            }
        }
    }
    out.flush().map_err(write_error)?;
    eprintln!(
        "dpop-proofs: wrote {} lines to {} (key {})",
        cli.count,
        cli.out.display(),
        client.key.thumbprint()
    );
    Ok(())
}
