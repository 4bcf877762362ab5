export * from './executor';
export * from './exec-errors';
export * from './workspace-sync';
export * from './output-capture';
