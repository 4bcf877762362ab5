export * from './errors';
export * from './ids';
export * from './run';
export * from './requests';
export * from './events';
export * from './dag';
export * from './zod-issues';
export * from './nesting';
