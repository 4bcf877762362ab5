export * from './job-options';
export * from './run-queue';
export * from './worker-registry';
export * from './invocation-queue';
export * from './dead-worker-sweep';
export * from './redis-connection';
export * from './coalesce-writes';
