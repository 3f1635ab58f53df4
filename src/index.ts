/** The package's public entry point. */
export * from './layer/index.js';
