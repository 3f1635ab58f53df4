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

/** The start of the error when the metrics port cannot be listened on. */
export function metricsListenFailed(flags: MetricsFlags): string {
  return `cannot listen for metrics on ${flags.metricsBind}:${flags.metricsPort}`;
}

/** What to say once the metrics port listens. */
export function metricsUrl(bind: string, port: number): string {
  return `metrics on http://${urlHost(bind)}:${port}/metrics`;
}
