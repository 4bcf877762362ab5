export * from './executor';
export * from './exec-errors';
export * from './workspace-sync';
export * from './output-capture';
export * from './executor-config-error';
export { LocalProcessExecutor } from './local-process-executor';
export { createLocalProcessExecutor, type LocalProcessExecutorOptions } from './create-local-process-executor';
