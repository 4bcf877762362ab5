export * from './logger';
export * from './metrics';
export { Gauge } from 'prom-client';
export * from './listen';
export * from './client-error';
