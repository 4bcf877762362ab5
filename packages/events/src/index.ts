export * from './keys';
export * from './append-event-lua';
export * from './event-log';
export * from './event-fanout';
export { compareIds, decodeEntry } from './event-codec';
export * from './run-history';
export * from './run-subscription';
export { quitRedis } from './quit-redis';
