//! The shared store for replicas: Redis (`--redis-url`).
//!
//! Every replica that names the same Redis shares the ledger and single
//! use. Whatever must happen once is one Lua script, so Redis runs it
//! atomically: never a read in one round trip and a write in another.
//!
//! The keys, all under [`PREFIX`]:
//!
//! - `generation`: a random name made with `SET NX` by the first replica
//!   that needs one. The store's generation is that name and Redis's
//!   `run_id`, so a Redis that restarted (empty, or from a snapshot older
//!   than the nonces it forgot) or failed over to a replica has a new one:
//!   states sealed before are refused, never used twice.
//! - `spent:<nonce>`: a redeemed nonce, expiring with its state (`PX`).
//! - `ledger:<tenant>:owner`: a hash, target -> the key placed there.
//! - `ledger:<tenant>:keys`: a hash, key -> a JSON object, target -> entry.
//! - `bucket:<tenant>:<name>`: a rate limit shared by every replica (GCRA:
//!   the time, in microseconds of Redis's clock, at which the bucket is
//!   full again), expiring when it is.
//!
//! A target is the JSON array `[serviceId, secretName]`, an entry the JSON
//! object `{"at": ms, "by": client}`; the tenant is already a digest. So
//! Redis holds key names, service ids, secret names, times, client names
//! and random nonces: never a value, never a token.
//!
//! The connection is `redis`'s tokio `ConnectionManager`, made lazily: it
//! reconnects by itself when Redis comes back. Each attempt to connect and
//! each answer is bounded ([`CONNECT_TIMEOUT`], [`RESPONSE_TIMEOUT`]), under
//! the store's own [`super::DEADLINE`], so a slow Redis fails closed instead
//! of holding calls.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisError, Script};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{
    Buckets, Claim, LINK_REMEMBERED, Ledger, LinkBook, LinkLimits, LinkRow, LinkState, Opened,
    Placement, Redeemed, Sessions, Spent, StoreError,
};

/// Every key this server writes starts with it.
pub const PREFIX: &str = "osc-secrets-mcp:";
/// How long one attempt to connect (TCP, TLS, `HELLO`/`AUTH`) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may wait for its answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the start-up check waits for Redis to answer.
pub const START_WAIT: Duration = Duration::from_secs(5);

/// `--redis-url` as given: it may hold a password, so it is never shown
/// (not by `Debug` either) and is exposed only to connect.
#[derive(Clone)]
pub struct RedisUrl(SecretString);

impl From<String> for RedisUrl {
    fn from(text: String) -> Self {
        RedisUrl(SecretString::from(text))
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisUrl(not shown)")
    }
}

/// What can be told of a usable URL without showing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlFacts {
    /// It holds a password.
    pub password: bool,
    /// `rediss://`: TLS, certificates checked against the system's roots.
    pub tls: bool,
    /// Its host is this machine (localhost or a loopback address).
    pub loopback: bool,
}

/// Why a `--redis-url` cannot be used. Never quotes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedisUrlError {
    #[error("is not a URL")]
    NotUrl,
    #[error("must start with redis:// (plain TCP) or rediss:// (TLS)")]
    Scheme,
    #[error("names no host")]
    NoHost,
    #[error("has a path other than a database number (such as /0)")]
    Database,
    #[error("has a query (?...), and none is read")]
    Query,
    #[error(
        "ends in a #fragment, and none is read (certificate checks cannot be turned off: there is no #insecure)"
    )]
    Fragment,
}

impl RedisUrl {
    /// Empty or whitespace only: as if not given (`OSC_MCP_REDIS_URL=` in
    /// a compose file turns it off).
    pub fn is_blank(&self) -> bool {
        self.0.expose_secret().trim().is_empty()
    }

    /// Checks the URL is one this server connects to:
    /// `redis[s]://[user[:password]@]host[:port][/db]`.
    pub fn check(&self) -> Result<UrlFacts, RedisUrlError> {
        let url = reqwest::Url::parse(self.0.expose_secret().trim())
            .map_err(|_| RedisUrlError::NotUrl)?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            _ => return Err(RedisUrlError::Scheme),
        };
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(RedisUrlError::NoHost);
        }
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.path().trim_matches('/') {
            "" => {}
            db if db.len() <= 5 && db.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(RedisUrlError::Database),
        }
        if url.query().is_some() {
            return Err(RedisUrlError::Query);
        }
        if url.fragment().is_some() {
            return Err(RedisUrlError::Fragment);
        }
        Ok(UrlFacts {
            password: url.password().is_some_and(|p| !p.is_empty()),
            tls,
            loopback,
        })
    }
}

/// Why Redis could not be used at start: a sentence for the operator,
/// never the URL.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

/// Makes a generation if there is none and returns the current one.
/// KEYS: generation. ARGV: a fresh random name.
static GENERATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local info = redis.pcall('INFO', 'server')
local run = type(info) == 'string' and string.match(info, 'run_id:(%x+)') or ''
return redis.call('GET', KEYS[1]) .. '.' .. run
",
    )
});

/// Redeems a nonce if the generation is still the one asked: 1 the first
/// time, 2 again, 0 another generation (or none: Redis lost it).
/// KEYS: generation, spent:<nonce>. ARGV: generation, ttl in ms.
static REDEEM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local name = redis.call('GET', KEYS[1])
if not name then return 0 end
local info = redis.pcall('INFO', 'server')
local run = type(info) == 'string' and string.match(info, 'run_id:(%x+)') or ''
if name .. '.' .. run ~= ARGV[1] then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 1 end
return 2
",
    )
});

/// Files a placement under its key, taking its target from whatever key
/// held it before. KEYS: owner, keys. ARGV: target, key, entry.
static PLACE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local before = redis.call('HGET', KEYS[1], ARGV[1])
if before and before ~= ARGV[2] then
  local raw = redis.call('HGET', KEYS[2], before)
  if raw then
    local held = cjson.decode(raw)
    held[ARGV[1]] = nil
    if next(held) == nil then
      redis.call('HDEL', KEYS[2], before)
    else
      redis.call('HSET', KEYS[2], before, cjson.encode(held))
    end
  end
end
local raw = redis.call('HGET', KEYS[2], ARGV[2])
local held = {}
if raw then held = cjson.decode(raw) end
held[ARGV[1]] = ARGV[3]
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(held))
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
",
    )
});

/// Takes `n` calls from a bucket of `per` a minute, all or none, on
/// Redis's clock (one clock for every replica): 0 when taken, else the
/// microseconds until they would fit. The bucket holds `per` calls and
/// gains one every minute / `per`. KEYS: bucket. ARGV: per, n.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local per = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local window = 60000000
local full = tonumber(redis.call('GET', KEYS[1]) or '0')
if full < now then full = now end
local after = full + n * window / per
if after - now > window then
  return math.ceil(after - now - window)
end
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000) + 1)
return 0
",
    )
});

/// Opens a link unless the tenant's or the client's open links are at
/// their limit: 1 opened, 2 too many, 3 too many for the client. Expired
/// links leave the counts first. KEYS: link, the tenant's open links, the
/// client's open links. ARGV: now, deadline, record, limit in all, limit
/// per client, forget-at, client ('' for none), id.
static OPEN_LINK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 2 end
if ARGV[7] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return 3 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'deadline', ARGV[2], 'state', 'open', 'record', ARGV[3], 'client', ARGV[7])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
local function count(set)
  redis.call('ZADD', set, ARGV[2], ARGV[8])
  if redis.call('PEXPIRETIME', set) < tonumber(ARGV[2]) then
    redis.call('PEXPIREAT', set, ARGV[2])
  end
end
count(KEYS[2])
if ARGV[7] ~= '' then count(KEYS[3]) end
return 1
",
    )
});

/// Claims a link if it is open and unexpired, taking it out of the counts;
/// returns {taken (0 or 1), state, deadline, fate, record}, or {} when
/// there is no such link. KEYS: link, the tenant's open links. ARGV: now,
/// id, the prefix of the client's open links.
static CLAIM_LINK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local got = redis.call('HMGET', KEYS[1], 'state', 'deadline', 'fate', 'record', 'client')
if not got[1] then return {} end
local taken = 0
if got[1] == 'open' and tonumber(got[2]) > tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'claimed')
  redis.call('ZREM', KEYS[2], ARGV[2])
  if got[5] and got[5] ~= '' then redis.call('ZREM', ARGV[3] .. got[5], ARGV[2]) end
  got[1] = 'claimed'
  taken = 1
end
return {tostring(taken), got[1], got[2] or '', got[3] or '', got[4] or ''}
",
    )
});

/// Settles a link that exists. KEYS: link. ARGV: fate.
static SETTLE_LINK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'settled', 'fate', ARGV[1])
return 1
",
    )
});

/// One ledger entry as stored, beside its target.
#[derive(serde::Serialize, Deserialize)]
struct Entry {
    at: u64,
    by: String,
}

/// Redis, through a connection that reconnects by itself.
pub struct RedisStore {
    conn: ConnectionManager,
}

impl RedisStore {
    /// A store on `url`; nothing is connected until the first call (see
    /// [`RedisStore::check`]). Must be called inside the tokio runtime.
    pub fn new(url: &RedisUrl) -> Result<RedisStore, StartError> {
        url.check()
            .map_err(|e| StartError(format!("the URL {e}")))?;
        // rustls needs a process-wide provider for rediss://; the one this
        // build carries (ring), as the OSC client installs it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = redis::Client::open(url.0.expose_secret().trim())
            .map_err(|e| StartError(format!("the URL cannot be used ({})", e.category())))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StartError(format!("no connection can be made ({})", e.category())))?;
        Ok(RedisStore { conn })
    }

    /// At start: Redis answers `PING` and runs this server's scripts,
    /// within [`START_WAIT`]. A warning when Redis may evict keys.
    pub async fn check(&self, tls: bool) -> Result<Vec<String>, StartError> {
        let ping = async {
            let pong: String = redis::cmd("PING")
                .query_async(&mut self.conn.clone())
                .await?;
            if pong != "PONG" {
                return Err(RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "PING",
                )));
            }
            let _: String = GENERATION
                .key(generation_key())
                .arg(fresh_generation())
                .invoke_async(&mut self.conn.clone())
                .await?;
            Ok(())
        };
        match tokio::time::timeout(START_WAIT, ping).await {
            Err(_) => {
                return Err(StartError(format!(
                    "it did not answer within {} seconds{}",
                    START_WAIT.as_secs(),
                    if tls {
                        " (with rediss://, check that Redis serves TLS on that port)"
                    } else {
                        ""
                    }
                )));
            }
            Ok(Err(e)) => return Err(StartError(start_problem(&e))),
            Ok(Ok(())) => {}
        }
        let mut warnings = Vec::new();
        // Best effort: managed Redis services often refuse CONFIG.
        let policy: Result<Vec<String>, RedisError> = tokio::time::timeout(
            RESPONSE_TIMEOUT,
            redis::cmd("CONFIG")
                .arg("GET")
                .arg("maxmemory-policy")
                .query_async(&mut self.conn.clone()),
        )
        .await
        .unwrap_or_else(|_| Err(RedisError::from((redis::ErrorKind::Io, "timeout"))));
        if let Ok(answer) = policy
            && let Some(policy) = answer.get(1)
            && policy != "noeviction"
        {
            warnings.push(format!(
                "Redis's maxmemory-policy is {}, so when full it may evict the spent requestState values and the \
                 ledger; set it to noeviction, so that a full Redis refuses instead",
                crate::domain::text::quoted(policy)
            ));
        }
        Ok(warnings)
    }

    /// Runs one command or script, a second time when the first never
    /// reached Redis or lost its connection (the manager is reconnecting
    /// by then): a Redis that came back is used at once. A second run of a
    /// redemption that did reach Redis finds its own nonce spent and is
    /// refused: fail closed, never twice.
    async fn run<T: FromRedisValue>(
        &self,
        what: &'static str,
        call: Call<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        let result = match call.send(&mut conn).await {
            Err(e) if worth_another_try(&e) => call.send(&mut conn).await,
            other => other,
        };
        result.map_err(|e| {
            let error = failure(&e);
            tracing::warn!(
                what,
                category = e.category(),
                code = e.code().unwrap_or(""),
                "Redis state store call failed"
            );
            error
        })
    }
}

/// One command or script invocation, sendable twice.
enum Call<'a> {
    Cmd(redis::Cmd),
    Script(redis::ScriptInvocation<'a>),
}

impl Call<'_> {
    async fn send<T: FromRedisValue>(&self, conn: &mut ConnectionManager) -> redis::RedisResult<T> {
        match self {
            Call::Cmd(cmd) => cmd.query_async(conn).await,
            Call::Script(script) => script.invoke_async(conn).await,
        }
    }
}

/// A connection failure that is not a timeout: the command was not
/// answered because there was no connection, and the manager reconnects.
fn worth_another_try(e: &RedisError) -> bool {
    e.is_io_error() && !e.is_timeout()
}

/// What a failed call means for the caller, in words without the URL.
fn failure(e: &RedisError) -> StoreError {
    use redis::{ErrorKind, ServerErrorKind};
    match (e.kind(), e.code()) {
        (_, Some("OOM")) => StoreError::Full,
        (ErrorKind::Server(ServerErrorKind::ReadOnly), _) => {
            StoreError::Unreachable("Redis answered as a read-only replica, not the primary")
        }
        (ErrorKind::Server(ServerErrorKind::BusyLoading), _) => {
            StoreError::Unreachable("Redis is still loading its data")
        }
        (ErrorKind::Server(ServerErrorKind::NoPerm), _) => {
            StoreError::Unreachable("Redis's user for this server lacks a permission it needs")
        }
        (ErrorKind::AuthenticationFailed, _) | (_, Some("NOAUTH" | "WRONGPASS")) => {
            StoreError::Unreachable("Redis refused this server's credentials")
        }
        (ErrorKind::UnexpectedReturnType | ErrorKind::Parse, _) | (_, Some("WRONGTYPE")) => {
            StoreError::Corrupt("Redis holds something else under this server's keys")
        }
        (ErrorKind::Server(ServerErrorKind::ResponseError), _)
            if e.detail().is_some_and(|d| d.contains("script")) =>
        {
            StoreError::Corrupt("Redis holds something else under this server's keys")
        }
        _ if e.is_timeout() => StoreError::Unreachable("Redis did not answer in time"),
        _ if e.is_io_error() => StoreError::Unreachable("no connection to Redis"),
        _ => StoreError::Unreachable("Redis refused a command; the server's log says which kind"),
    }
}

/// Why the start-up check failed, for the operator.
fn start_problem(e: &RedisError) -> String {
    if e.is_connection_refusal() {
        return "the connection was refused (check that Redis runs at that host and port)"
            .to_owned();
    }
    if e.is_timeout() {
        return format!(
            "it did not answer within {} seconds",
            RESPONSE_TIMEOUT.as_secs()
        );
    }
    match failure(e) {
        StoreError::Unreachable("Redis refused this server's credentials") => {
            "it refused the user name or password in the URL".to_owned()
        }
        StoreError::Unreachable("Redis's user for this server lacks a permission it needs") => {
            "it refused a command to the user in the URL (NOPERM): give that user the permissions listed in \
             docs/security.md"
                .to_owned()
        }
        StoreError::Unreachable("no connection to Redis") => format!(
            "no connection could be made ({}): check the host, the port, and for rediss:// that Redis serves TLS \
             with a certificate the system trusts",
            e.category()
        ),
        StoreError::Unreachable(why) | StoreError::Corrupt(why) => format!(
            "{why} ({}{})",
            e.category(),
            e.code().map(|c| format!(", {c}")).unwrap_or_default()
        ),
        StoreError::Full => "it is out of memory (OOM)".to_owned(),
    }
}

fn generation_key() -> String {
    format!("{PREFIX}generation")
}

fn fresh_generation() -> String {
    format!("r{:016x}", rand::random::<u64>())
}

fn spent_key(nonce: &str) -> String {
    format!("{PREFIX}spent:{nonce}")
}

fn ledger_keys(tenant: &str) -> (String, String) {
    (
        format!("{PREFIX}ledger:{tenant}:owner"),
        format!("{PREFIX}ledger:{tenant}:keys"),
    )
}

fn bucket_key(name: &str) -> String {
    format!("{PREFIX}bucket:{name}")
}

fn target(service_id: &str, secret_name: &str) -> String {
    serde_json::json!([service_id, secret_name]).to_string()
}

#[async_trait]
impl Ledger for RedisStore {
    async fn place(&self, tenant: &str, placement: &Placement) -> Result<(), StoreError> {
        let (owner, keys) = ledger_keys(tenant);
        let entry = serde_json::to_string(&Entry {
            at: placement.at_ms,
            by: placement.by.clone(),
        })
        .map_err(|_| StoreError::Corrupt("a ledger entry could not be written"))?;
        let mut call = PLACE.prepare_invoke();
        call.key(owner)
            .key(keys)
            .arg(target(&placement.service_id, &placement.secret_name))
            .arg(&placement.key)
            .arg(entry);
        let _: i64 = self.run("place", Call::Script(call)).await?;
        Ok(())
    }

    async fn placements(&self, tenant: &str, key: &str) -> Result<Vec<Placement>, StoreError> {
        let (_, keys) = ledger_keys(tenant);
        let mut cmd = redis::cmd("HGET");
        cmd.arg(keys).arg(key);
        let held: Option<String> = self.run("placements", Call::Cmd(cmd)).await?;
        let Some(held) = held else {
            return Ok(Vec::new());
        };
        const UNREADABLE: StoreError =
            StoreError::Corrupt("Redis holds a ledger entry this server cannot read");
        let held: std::collections::HashMap<String, String> =
            serde_json::from_str(&held).map_err(|_| UNREADABLE)?;
        let mut found = Vec::with_capacity(held.len());
        for (target, entry) in held {
            let (service_id, secret_name): (String, String) =
                serde_json::from_str(&target).map_err(|_| UNREADABLE)?;
            let entry: Entry = serde_json::from_str(&entry).map_err(|_| UNREADABLE)?;
            found.push(Placement::stored(
                key.to_owned(),
                service_id,
                secret_name,
                entry.at,
                entry.by,
            ));
        }
        Ok(found)
    }
}

#[async_trait]
impl Spent for RedisStore {
    async fn generation(&self) -> Result<String, StoreError> {
        let mut call = GENERATION.prepare_invoke();
        call.key(generation_key()).arg(fresh_generation());
        self.run("generation", Call::Script(call)).await
    }

    async fn redeem(
        &self,
        generation: &str,
        nonce: &str,
        ttl: Duration,
    ) -> Result<Redeemed, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut call = REDEEM.prepare_invoke();
        call.key(generation_key())
            .key(spent_key(nonce))
            .arg(generation)
            .arg(ttl_ms);
        let answer: i64 = self.run("redeem", Call::Script(call)).await?;
        match answer {
            1 => Ok(Redeemed::First),
            2 => Ok(Redeemed::Again),
            0 => Ok(Redeemed::OtherGeneration),
            _ => Err(StoreError::Corrupt(
                "Redis answered the redemption with something unknown",
            )),
        }
    }

    async fn used(&self, nonce: &str) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(spent_key(nonce));
        let found: i64 = self.run("used", Call::Cmd(cmd)).await?;
        Ok(found > 0)
    }
}

#[async_trait]
impl Buckets for RedisStore {
    /// A second run after a lost connection (see [`RedisStore::run`]) may
    /// take twice: the limit then errs towards refusing, never towards
    /// more calls.
    async fn take(
        &self,
        name: &str,
        per_minute: std::num::NonZeroU32,
        n: std::num::NonZeroU32,
    ) -> Result<Option<Duration>, StoreError> {
        let mut call = TAKE.prepare_invoke();
        call.key(bucket_key(name))
            .arg(per_minute.get())
            .arg(n.get());
        let wait_us: i64 = self.run("take", Call::Script(call)).await?;
        Ok(u64::try_from(wait_us)
            .ok()
            .filter(|us| *us > 0)
            .map(Duration::from_micros))
    }
}

#[async_trait]
impl Sessions for RedisStore {
    async fn load_session(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(session_key(id));
        self.run("load session", Call::Cmd(cmd)).await
    }

    async fn save_session(&self, id: &str, state: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(session_key(id))
            .arg(state)
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        self.run("save session", Call::Cmd(cmd)).await
    }

    async fn drop_session(&self, id: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(session_key(id));
        let _: i64 = self.run("drop session", Call::Cmd(cmd)).await?;
        Ok(())
    }
}

/// Where link `id` of `tenant` is kept, and the sets that count the
/// tenant's open links and (under the prefix, then the client) a client's.
fn link_keys(tenant: &str, id: &str) -> (String, String, String) {
    (
        format!("{PREFIX}link:{tenant}:{id}"),
        format!("{PREFIX}links-open:{tenant}"),
        format!("{PREFIX}links-open:{tenant}:client:"),
    )
}

/// A link's fields as Redis gave them: state, deadline, fate, record.
fn link_row(
    state: &str,
    deadline: &str,
    fate: String,
    record: String,
) -> Result<LinkRow, StoreError> {
    let deadline_ms = deadline
        .parse()
        .map_err(|_| StoreError::Corrupt("Redis holds a link whose deadline is not a number"))?;
    let state = match state {
        "open" => LinkState::Open,
        "settled" => LinkState::Settled(fate),
        _ => LinkState::Claimed,
    };
    Ok(LinkRow {
        record,
        deadline_ms,
        state,
    })
}

#[async_trait]
impl LinkBook for RedisStore {
    async fn open_link(
        &self,
        tenant: &str,
        id: &str,
        client: Option<&str>,
        row: &LinkRow,
        limits: LinkLimits,
        now_ms: u64,
    ) -> Result<Opened, StoreError> {
        let (link, open, per_client) = link_keys(tenant, id);
        let forget_at = row
            .deadline_ms
            .saturating_add(u64::try_from(LINK_REMEMBERED.as_millis()).unwrap_or(u64::MAX));
        let mut call = OPEN_LINK.prepare_invoke();
        call.key(link)
            .key(open)
            .key(format!("{per_client}{}", client.unwrap_or_default()))
            .arg(now_ms)
            .arg(row.deadline_ms)
            .arg(&row.record)
            .arg(limits.all)
            .arg(limits.per_client)
            .arg(forget_at)
            .arg(client.unwrap_or_default())
            .arg(id);
        let answer: i64 = self.run("open link", Call::Script(call)).await?;
        match answer {
            1 => Ok(Opened::Yes),
            2 => Ok(Opened::TooMany),
            3 => Ok(Opened::TooManyForClient),
            _ => Err(StoreError::Corrupt(
                "Redis answered the link's opening with something unknown",
            )),
        }
    }

    async fn link(&self, tenant: &str, id: &str) -> Result<Option<LinkRow>, StoreError> {
        let (link, _, _) = link_keys(tenant, id);
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(link)
            .arg("state")
            .arg("deadline")
            .arg("fate")
            .arg("record");
        let got: (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = self.run("read link", Call::Cmd(cmd)).await?;
        match got {
            (None, ..) => Ok(None),
            (Some(state), Some(deadline), fate, Some(record)) => Ok(Some(link_row(
                &state,
                &deadline,
                fate.unwrap_or_default(),
                record,
            )?)),
            _ => Err(StoreError::Corrupt(
                "Redis holds a link with fields missing",
            )),
        }
    }

    /// A second run after a lost connection (see [`RedisStore::run`]) finds
    /// the link claimed by the first and does not take it: the page then
    /// says the link is in use, and nothing is written twice.
    async fn claim_link(&self, tenant: &str, id: &str, now_ms: u64) -> Result<Claim, StoreError> {
        let (link, open, per_client) = link_keys(tenant, id);
        let mut call = CLAIM_LINK.prepare_invoke();
        call.key(link).key(open).arg(now_ms).arg(id).arg(per_client);
        let got: Vec<String> = self.run("claim link", Call::Script(call)).await?;
        if got.is_empty() {
            return Ok(Claim::Not(None));
        }
        let Ok([taken, state, deadline, fate, record]) = <[String; 5]>::try_from(got) else {
            return Err(StoreError::Corrupt(
                "Redis answered the link's claim with something unknown",
            ));
        };
        let row = link_row(&state, &deadline, fate, record)?;
        Ok(if taken == "1" {
            Claim::Taken(row)
        } else {
            Claim::Not(Some(row))
        })
    }

    async fn open_links(&self, tenant: &str, now_ms: u64) -> Result<u64, StoreError> {
        let (_, open, _) = link_keys(tenant, "");
        let mut cmd = redis::cmd("ZCOUNT");
        cmd.arg(open).arg(format!("({now_ms}")).arg("+inf");
        self.run("count links", Call::Cmd(cmd)).await
    }

    async fn settle_link(&self, tenant: &str, id: &str, fate: &str) -> Result<(), StoreError> {
        let (link, _, _) = link_keys(tenant, id);
        let mut call = SETTLE_LINK.prepare_invoke();
        call.key(link).arg(fate);
        let _: i64 = self.run("settle link", Call::Script(call)).await?;
        Ok(())
    }
}

/// Where a session (by the digest of its id) is kept.
fn session_key(id: &str) -> String {
    format!("{PREFIX}session:{id}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn url(text: &str) -> RedisUrl {
        RedisUrl::from(text.to_owned())
    }

    #[test]
    fn only_redis_urls_this_server_reads_are_accepted() {
        let facts = url("rediss://app:s3cret@redis.example.com:6380/2")
            .check()
            .unwrap();
        assert_eq!(
            facts,
            UrlFacts {
                password: true,
                tls: true,
                loopback: false
            }
        );
        let facts = url("redis://127.0.0.1:6379").check().unwrap();
        assert_eq!(
            facts,
            UrlFacts {
                password: false,
                tls: false,
                loopback: true
            }
        );
        assert!(url("redis://localhost/0").check().unwrap().loopback);
        assert!(url("redis://[::1]:6379").check().unwrap().loopback);
        assert!(!url("redis://user@10.0.0.1").check().unwrap().password);
        for (text, problem) in [
            ("not a url", RedisUrlError::NotUrl),
            ("http://redis.example.com", RedisUrlError::Scheme),
            ("valkey://redis.example.com", RedisUrlError::Scheme),
            ("unix:///run/redis.sock", RedisUrlError::Scheme),
            ("redis:///0", RedisUrlError::NoHost),
            ("redis://host/zero", RedisUrlError::Database),
            ("redis://host/0?protocol=resp3", RedisUrlError::Query),
            ("rediss://host/#insecure", RedisUrlError::Fragment),
        ] {
            assert_eq!(url(text).check(), Err(problem), "{text}");
        }
    }

    #[test]
    fn the_url_is_never_shown_and_its_problems_never_quote_it() {
        let secret = "redis://:hunter2-password@host:1/0?x";
        let given = url(secret);
        assert_eq!(format!("{given:?}"), "RedisUrl(not shown)");
        let problem = given.check().unwrap_err().to_string();
        assert!(!problem.contains("hunter2"), "{problem}");
    }

    #[test]
    fn failures_are_sorted_into_what_the_caller_is_told() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(worth_another_try(&refused));
        assert_eq!(
            failure(&refused),
            StoreError::Unreachable("no connection to Redis")
        );
        let slow = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(!worth_another_try(&slow));
        assert_eq!(
            failure(&slow),
            StoreError::Unreachable("Redis did not answer in time")
        );
        let wrong = RedisError::from((redis::ErrorKind::UnexpectedReturnType, "x"));
        assert!(!worth_another_try(&wrong));
        assert!(matches!(failure(&wrong), StoreError::Corrupt(_)));
    }
}
