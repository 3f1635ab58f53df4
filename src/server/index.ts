export { Thyme, HEALTH_PATH } from './thyme.js';
export {
  THYME_DEFAULTS,
  type ReadinessCheck,
  type ThymeOptions,
  type TlsFiles,
} from './options.js';
export type { ReadinessResult } from '../metrics/endpoint.js';
export { AccessLogUnavailable } from './access-log.js';
export { SocketPathUnavailable } from './socket-path.js';
export { TlsUnusable } from './tls.js';
