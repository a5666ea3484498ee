export * from './data-source';
export * from './embedded-postgres';
export * from './migrate';
export { migrations } from './migrations';
export * from './query';
export * from './transaction';
