/** Public face of the protocol: schemas, envelope and their types. */
export * from './schemas.js';
export * from './envelope.js';
export * from './bridge.js';
