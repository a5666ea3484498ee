import { ConfigError, loadConfig } from './app-config';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.accessTokenTtlSec).toBe(900);
    expect(config.refreshTokenTtlSec).toBe(604_800);
    expect(config.taskLeaseSec).toBe(60);
    expect(config.agentOfflineAfterSec).toBe(45);
    expect(config.lockDefaultTtlSec).toBe(1800);
    expect(config.rateLimitPerMin).toBe(600);
    expect(config.logLevel).toBe('info');
    expect(config.corsOrigins).toEqual([]);
  });

  it('reports every bad value at once, naming each variable', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', TASK_LEASE_SEC: '0', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT must be a whole number');
    expect(message).toContain('TASK_LEASE_SEC must be between 1 and 86400');
    expect(message).toContain('LOG_LEVEL must be one of');
    expect(message).toContain('DATABASE_URL must use postgres: or postgresql:');
  });

  it('rejects a short JWT secret and inconsistent TTLs', () => {
    expect(() => loadConfig({ JWT_SECRET: 'short' })).toThrow(/JWT_SECRET must be at least 32 bytes/);
    expect(() => loadConfig({ LOCK_DEFAULT_TTL_SEC: '100', LOCK_MAX_TTL_SEC: '50' })).toThrow(
      /LOCK_DEFAULT_TTL_SEC must not exceed/,
    );
  });

  it('splits comma-separated lists', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });
});
