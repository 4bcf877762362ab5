export * from './keys';
export * from './state-machine';
export * from './run-codec';
export * from './run-store';
export * from './run-archive';
export * from './run-finalizer';
export * from './token-budget';
export * from './tenant-slots';
