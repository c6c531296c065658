export * from './actions.js';
export * from './duration.js';
export * from './envelope.js';
export * from './errors.js';
export * from './messages.js';
export const LAAS_VERSION = '0.1.0';
export * from './json-file.js';
export * from './log.js';
export * from './secret.js';
