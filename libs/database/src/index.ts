export * from './data-source';
export * from './embedded-postgres';
export * from './migrate';
export * from './query';
export * from './transaction';
export { migrations } from './migrations';
