export * from './executor';
export * from './exec-errors';
