/**
 * Every setting the server reads, parsed and validated once at boot. Nothing else reads
 * `process.env`; a bad value stops the server with a message naming the variable.
 */
export interface AppConfig {
  port: number;
  host: string;
  /** Hops of trusted reverse proxies for the client IP (X-Forwarded-For); 0 trusts none. */
  trustProxy: number;
  /** Unset → embedded PostgreSQL under `dataDir/postgres`. */
  databaseUrl: string | undefined;
  dataDir: string;
  dbPoolSize: number;
  /** Server-side bounds on the app's own sessions, so a stuck statement or transaction cannot hold the seal line. */
  dbStatementTimeoutMs: number;
  dbIdleInTransactionTimeoutMs: number;
  adminUsername: string;
  adminPassword: string | undefined;
  adminEmail: string;
  jwtSecret: string | undefined;
  jwtPublicKey: string | undefined;
  jwksUrl: string | undefined;
  jwtIssuer: string | undefined;
  jwtAudience: string | undefined;
  jwtRolesClaim: string;
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  taskLeaseSec: number;
  agentHeartbeatIntervalSec: number;
  agentOfflineAfterSec: number;
  sweepIntervalMs: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  lockDefaultTtlSec: number;
  lockMaxTtlSec: number;
  /** Active file locks one holder (agent or user) may hold at once; beyond it 429 too_many_locks. */
  lockMaxPerHolder: number;
  lockMaxWaitsPerPrincipal: number;
  webhookSecret: string | undefined;
  /** HMAC key for signed audit checkpoints; never stored in the database. */
  auditCheckpointKey: string | undefined;
  webhookAllowedHosts: string[];
  corsOrigins: string[];
  rateLimitPerMin: number;
  /** Per-minute budget of the agent loop (claims, heartbeats) per principal, kept apart from the general one. */
  rateLimitAgentPerMin: number;
  /** A response not started within this is a 503 (long-poll routes get their wait on top). */
  requestTimeoutMs: number;
  /** Shed load (503) when more than this many queries wait for a pooled connection; 0 disables. */
  shedDbWaiters: number;
  /** Shed load (503) when the event loop lags more than this; 0 disables. */
  shedEventLoopLagMs: number;
  loginMaxFailures: number;
  loginWindowSec: number;
  /** Open MCP sessions one principal may hold on an instance; past it the oldest without a stream is closed. */
  mcpMaxSessionsPerPrincipal: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  otelExporterOtlpEndpoint: string | undefined;
  metricsToken: string | undefined;
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  /** On SIGTERM, keep accepting (with readiness failing) this long so load balancers notice first. */
  shutdownDrainDelayMs: number;
  smtpUrl: string | undefined;
  /** How often a socket's credential is re-checked (disabled users, revoked keys). */
  socketReauthIntervalMs: number;
  /** Events queued for one socket before it is cut as a slow consumer. */
  socketMaxBufferedEvents: number;
  /** Subscriptions one socket may hold; past it `subscribe` is refused. */
  socketMaxSubscriptions: number;
  /** Messages one socket may send: a token bucket refilled at this rate, holding at most socketMessageBurst. */
  socketMessagesPerSec: number;
  socketMessageBurst: number;
  /** At most one `authz.denied` row per principal and route (or MCP tool) per window; the rest are counted into the next. */
  auditDenialWindowSec: number;
  /** How old the database gauges of /metrics may be: at most one gauge query per interval across all instances; 0 queries on every scrape. */
  metricsGaugeRefreshMs: number;
  /** Task types with their own `type` label on `agentmanager_tasks` (the most numerous); the rest are summed as `other`. */
  metricsMaxTaskTypes: number;
  eventsRetentionSec: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optional(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value)) {
      this.problems.push(`${name} must be a whole number, got "${value}"`);
      return fallback;
    }
    const n = Number(value);
    if (n < min || n > max) {
      this.problems.push(`${name} must be between ${min} and ${max}, got ${n}`);
      return fallback;
    }
    return n;
  }

  list(name: string): string[] {
    const value = this.raw(name);
    return value ? value.split(',').map((s) => s.trim()).filter(Boolean) : [];
  }

  url(name: string, protocols: string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
      }
    } catch {
      this.problems.push(`${name} is not a valid URL`);
    }
    return value;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!allowed.includes(value as T)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
      return fallback;
    }
    return value as T;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env): AppConfig {
  const r = new Reader(env);
  const config: AppConfig = {
    port: r.int('PORT', 3000, 0, 65535),
    host: r.string('HOST', '0.0.0.0'),
    trustProxy: r.int('TRUST_PROXY_HOPS', 0, 0, 10),
    databaseUrl: r.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: r.string('DATA_DIR', './data'),
    dbPoolSize: r.int('DB_POOL_SIZE', 20, 2, 500),
    dbStatementTimeoutMs: r.int('DB_STATEMENT_TIMEOUT_MS', 30_000, 100, 3_600_000),
    dbIdleInTransactionTimeoutMs: r.int('DB_IDLE_IN_TRANSACTION_TIMEOUT_MS', 15_000, 100, 3_600_000),
    adminUsername: r.string('ADMIN_USERNAME', 'admin'),
    adminPassword: r.optional('ADMIN_PASSWORD'),
    adminEmail: r.string('ADMIN_EMAIL', 'admin@localhost'),
    jwtSecret: r.optional('JWT_SECRET'),
    jwtPublicKey: r.optional('JWT_PUBLIC_KEY'),
    jwksUrl: r.url('JWKS_URL', ['https:', 'http:']),
    jwtIssuer: r.optional('JWT_ISSUER'),
    jwtAudience: r.optional('JWT_AUDIENCE'),
    jwtRolesClaim: r.string('JWT_ROLES_CLAIM', 'roles'),
    accessTokenTtlSec: r.int('ACCESS_TOKEN_TTL_SEC', 900, 1, 86_400),
    refreshTokenTtlSec: r.int('REFRESH_TOKEN_TTL_SEC', 604_800, 60, 31_536_000),
    taskLeaseSec: r.int('TASK_LEASE_SEC', 60, 1, 86_400),
    agentHeartbeatIntervalSec: r.int('AGENT_HEARTBEAT_INTERVAL_SEC', 15, 1, 3_600),
    agentOfflineAfterSec: r.int('AGENT_OFFLINE_AFTER_SEC', 45, 1, 86_400),
    sweepIntervalMs: r.int('SWEEP_INTERVAL_MS', 1000, 50, 3_600_000),
    retryBaseDelayMs: r.int('RETRY_BASE_DELAY_MS', 1000, 1, 3_600_000),
    retryMaxDelayMs: r.int('RETRY_MAX_DELAY_MS', 300_000, 1, 86_400_000),
    lockDefaultTtlSec: r.int('LOCK_DEFAULT_TTL_SEC', 1800, 1, 31_536_000),
    lockMaxTtlSec: r.int('LOCK_MAX_TTL_SEC', 86_400, 1, 31_536_000),
    lockMaxPerHolder: r.int('LOCK_MAX_PER_HOLDER', 1000, 1, 1_000_000),
    lockMaxWaitsPerPrincipal: r.int('LOCK_MAX_WAITS_PER_PRINCIPAL', 32, 1, 10_000),
    webhookSecret: r.optional('WEBHOOK_SECRET'),
    auditCheckpointKey: r.optional('AUDIT_CHECKPOINT_KEY'),
    webhookAllowedHosts: r.list('WEBHOOK_ALLOWED_HOSTS'),
    corsOrigins: r.list('CORS_ORIGINS'),
    rateLimitPerMin: r.int('RATE_LIMIT_PER_MIN', 600, 1, 10_000_000),
    rateLimitAgentPerMin: r.int('RATE_LIMIT_AGENT_PER_MIN', 6000, 1, 10_000_000),
    requestTimeoutMs: r.int('REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000),
    shedDbWaiters: r.int('SHED_DB_WAITERS', 200, 0, 100_000),
    shedEventLoopLagMs: r.int('SHED_EVENT_LOOP_LAG_MS', 1000, 0, 60_000),
    loginMaxFailures: r.int('LOGIN_MAX_FAILURES', 5, 1, 1_000),
    loginWindowSec: r.int('LOGIN_WINDOW_SEC', 900, 1, 86_400),
    mcpMaxSessionsPerPrincipal: r.int('MCP_MAX_SESSIONS_PER_PRINCIPAL', 16, 1, 1_000),
    logLevel: r.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    otelExporterOtlpEndpoint: r.url('OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:']),
    metricsToken: r.optional('METRICS_TOKEN'),
    bodyLimitBytes: r.int('BODY_LIMIT_BYTES', 1_048_576, 1024, 104_857_600),
    shutdownGraceMs: r.int('SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    shutdownDrainDelayMs: r.int('SHUTDOWN_DRAIN_DELAY_MS', 0, 0, 60_000),
    smtpUrl: r.url('SMTP_URL', ['smtp:', 'smtps:']),
    socketReauthIntervalMs: r.int('SOCKET_REAUTH_INTERVAL_MS', 30_000, 100, 3_600_000),
    socketMaxBufferedEvents: r.int('SOCKET_MAX_BUFFERED_EVENTS', 1000, 1, 1_000_000),
    socketMaxSubscriptions: r.int('SOCKET_MAX_SUBSCRIPTIONS', 100, 1, 100_000),
    socketMessagesPerSec: r.int('SOCKET_MESSAGES_PER_SEC', 20, 1, 100_000),
    socketMessageBurst: r.int('SOCKET_MESSAGE_BURST', 200, 1, 1_000_000),
    auditDenialWindowSec: r.int('AUDIT_DENIAL_WINDOW_SEC', 60, 1, 86_400),
    metricsGaugeRefreshMs: r.int('METRICS_GAUGE_REFRESH_MS', 10_000, 0, 3_600_000),
    metricsMaxTaskTypes: r.int('METRICS_MAX_TASK_TYPES', 50, 1, 10_000),
    eventsRetentionSec: r.int('EVENTS_RETENTION_SEC', 604_800, 60, 315_360_000),
  };
  if (config.jwtSecret !== undefined && Buffer.byteLength(config.jwtSecret) < 32) {
    r.problems.push('JWT_SECRET must be at least 32 bytes long');
  }
  if (config.jwtPublicKey && config.jwksUrl) {
    r.problems.push('set JWT_PUBLIC_KEY or JWKS_URL, not both');
  }
  if (config.lockDefaultTtlSec > config.lockMaxTtlSec) {
    r.problems.push('LOCK_DEFAULT_TTL_SEC must not exceed LOCK_MAX_TTL_SEC');
  }
  if (config.agentOfflineAfterSec <= config.agentHeartbeatIntervalSec) {
    r.problems.push('AGENT_OFFLINE_AFTER_SEC must be greater than AGENT_HEARTBEAT_INTERVAL_SEC');
  }
  if (config.shutdownDrainDelayMs >= config.shutdownGraceMs && config.shutdownDrainDelayMs > 0) {
    r.problems.push('SHUTDOWN_DRAIN_DELAY_MS must be less than SHUTDOWN_GRACE_MS');
  }
  if (config.auditCheckpointKey !== undefined && config.auditCheckpointKey.length < 32) {
    r.problems.push('AUDIT_CHECKPOINT_KEY must be at least 32 characters long');
  }
  if (config.adminPassword !== undefined && config.adminPassword.length < 8) {
    r.problems.push('ADMIN_PASSWORD must be at least 8 characters long');
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
