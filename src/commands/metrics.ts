import { Option } from 'commander';
import { urlHost } from '../listen.js';
import { numberIn, bindAddress } from './options.js';

/** The flags of a process that can serve /metrics and /healthz on a port of its own. */
export interface MetricsFlags {
  metricsPort?: number;
  metricsBind: string;
}

export function metricsPortOption(): Option {
  return new Option(
    '--metrics-port <port>',
    'serve /metrics (Prometheus) and /healthz on this separate port',
  ).argParser(numberIn(0, 65535, true));
}

export function metricsBindOption(): Option {
  return new Option('--metrics-bind <address>', 'address for the metrics port')
    .default('127.0.0.1')
    .argParser(bindAddress);
}

/** Addresses that take a port on every interface (`::` takes IPv4 too, dual-stack). */
const WILDCARDS = new Set(['0.0.0.0', '::']);

/**
 * Why the metrics port cannot be the one the server listens on, or undefined
 * when it can: the same port on the same address, or on a wildcard that covers
 * the other. Said as bad usage before anything starts, rather than found at
 * listen as "address already in use" once the server has opened its port.
 */
export function metricsPortClash(
  flags: MetricsFlags,
  bind: string,
  port: number,
): string | undefined {
  if (!flags.metricsPort || flags.metricsPort !== port) return undefined;
  const { metricsBind } = flags;
  if (bind !== metricsBind && !WILDCARDS.has(bind) && !WILDCARDS.has(metricsBind)) return undefined;
  return `--metrics-port ${port} on ${metricsBind} is the port Thyme listens on (${bind}:${port}): give the metrics a port of their own`;
}

/** The start of the error when the metrics port cannot be listened on. */
export function metricsListenFailed(flags: MetricsFlags): string {
  return `cannot listen for metrics on ${flags.metricsBind}:${flags.metricsPort}`;
}

/** What to say once the metrics port listens. */
export function metricsUrl(bind: string, port: number): string {
  return `metrics on http://${urlHost(bind)}:${port}/metrics`;
}
