export { Thyme, HEALTH_PATH } from './thyme.js';
export { THYME_DEFAULTS, type ThymeOptions } from './options.js';
export { AccessLogUnavailable } from './access-log.js';
export { SocketPathUnavailable } from './socket-path.js';
