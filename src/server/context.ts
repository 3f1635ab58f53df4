import type { ChannelLayer } from '../layer/types.js';
import type { Logger } from '../logger.js';
import type { AccessLog } from './access-log.js';
import type { AllowedHosts } from './hosts.js';
import type { ThymeMetrics } from './metrics.js';
import type { ThymeOptions } from './options.js';

/** What the HTTP and WebSocket bridges share with the server that owns them. */
export interface ThymeContext {
  readonly layer: ChannelLayer;
  readonly options: ThymeOptions;
  readonly hosts: AllowedHosts;
  readonly metrics: ThymeMetrics;
  readonly accessLog: AccessLog | undefined;
  readonly logger: Logger;
  /** The Unix socket listened on, if any: the `server` of its connections' events. */
  readonly socketPath: string | undefined;
  /** Set once graceful shutdown starts: no new requests or sockets. */
  readonly closing: boolean;
  /**
   * Aborted when a graceful shutdown stops waiting for in-flight responses
   * (ThymeOptions.stopTimeout): what a worker has not sent by then is not
   * waited for.
   */
  readonly stopWaiting: AbortSignal;
}

/** The newChannel prefix of every reply channel Thyme makes: one process key, one read. */
export const REPLY_PREFIX = 'thyme';
