export * from './idempotency.module';
export * from './idempotency.service';
export * from './idempotency-key.decorator';
export * from './idempotency-key.entity';
