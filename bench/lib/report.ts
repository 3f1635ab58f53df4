import { availableParallelism, cpus, loadavg } from 'node:os';
import { Redis } from 'ioredis';

export interface Environment {
  date: string;
  node: string;
  redisServer: string;
  cpus: number;
  cpuModel: string;
  loadAverage: number[];
}

/** What the figures depend on, printed above them and saved with them. */
export async function describeEnvironment(url: string): Promise<Environment> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /^redis_version:(.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown';
    return {
      date: new Date().toISOString(),
      node: process.version,
      redisServer: version,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      loadAverage: loadavg().map((load) => Math.round(load * 100) / 100),
    };
  } catch (error) {
    throw new Error(`cannot reach Redis at ${url}`, { cause: error });
  } finally {
    client.disconnect();
  }
}

/** A number with thousands separators, or a few decimals when small. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(2);
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a';
}

/** A plain-text table; the first column left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  return [
    line(header),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...rows.map(line),
  ].join('\n');
}
