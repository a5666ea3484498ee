import { DomainError } from './errors';
import { toDomainError } from './http-error.filter';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('toDomainError', () => {
  it('turns a database outage into a retryable 503', () => {
    for (const err of [
      pgError('ECONNREFUSED'),
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('53300', 'sorry, too many clients already'),
      pgError('08006'),
      pgError('55000', 'database "x" is not currently accepting connections'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      { name: 'QueryFailedError', message: 'q', driverError: pgError('57P03') },
    ]) {
      const mapped = toDomainError(err);
      expect({ code: mapped.code, retry: mapped.retryAfterSec }).toEqual({ code: 'service_unavailable', retry: 5 });
    }
  });

  it('keeps query errors that are bugs or bad input a 500, and domain errors as they are', () => {
    expect(toDomainError(pgError('23505', 'duplicate key')).code).toBe('internal_error');
    expect(toDomainError(pgError('42P01', 'relation "nope" does not exist')).code).toBe('internal_error');
    expect(toDomainError(pgError('55000', 'object not in prerequisite state')).code).toBe('internal_error');
    expect(toDomainError(new Error('boom')).code).toBe('internal_error');
    const domain = new DomainError('conflict', 'no');
    expect(toDomainError(domain)).toBe(domain);
  });

  it('maps body-parser failures', () => {
    expect(toDomainError({ type: 'entity.parse.failed' }).code).toBe('invalid_json');
    expect(toDomainError({ type: 'entity.too.large' }).code).toBe('payload_too_large');
  });
});
