import { isIP } from 'node:net';
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULTS, ENV, databaseUrlFromEnv, env } from '../settings.js';

/** Parses a number in [min, max]; a bad value makes commander exit 2 with this reason. */
export function numberIn(min: number, max: number, integer = false): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (
      // Plain decimals only: Number() would also take " 80", "1e3" and "0x50".
      !/^-?\d+(\.\d+)?$/.test(value) ||
      !Number.isFinite(number) ||
      number < min ||
      number > max ||
      (integer && !Number.isInteger(number))
    ) {
      throw new InvalidArgumentError(
        `Expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`,
      );
    }
    return number;
  };
}

/**
 * A listening address: a name or an IP address, IPv6 with or without its
 * brackets. Empty is refused: it would mean every interface. So is what no
 * lookup could resolve (a space, a port, a scheme, 999.1.1.1): a typo, said as
 * one, not as a failed listen at start.
 */
export function bindAddress(value: string): string {
  const address = value.trim().replace(/^\[(.*)\]$/, '$1');
  if (address === '') throw new InvalidArgumentError('Expected an address, such as 127.0.0.1.');
  const name = /^[a-z0-9.-]+$/i.test(address) && !/^[\d.]+$/.test(address);
  if (isIP(address) === 0 && !name)
    throw new InvalidArgumentError(
      'Expected an IP address or a host name (no port or scheme), such as 127.0.0.1 or ::.',
    );
  return address;
}

/**
 * A Unix socket's path. Linux keeps at most 107 bytes of it (sun_path), and
 * Node would cut a longer one short without a word: refused here instead.
 */
export function socketPath(value: string): string {
  if (value === '')
    throw new InvalidArgumentError('Expected a path, such as /run/gredis/thyme.sock.');
  if (Buffer.byteLength(value) > 107)
    throw new InvalidArgumentError('A Unix socket path may be 107 bytes at most.');
  return value;
}

export function verbosityOption(): Option {
  return new Option(
    '-v, --verbosity <level>',
    'log level: 0 warnings, 1 info, 2 debug (and stack traces)',
  )
    .default(DEFAULTS.verbosity)
    .argParser(numberIn(0, 2, true));
}

/**
 * --layer. A command that needs a layer shared with other processes (runworker)
 * offers no default but the environment's: memory:// would be refused.
 */
export function layerOption({ shared = false } = {}): Option {
  const option = new Option(
    '--layer <url>',
    `${shared ? 'the channel layer shared with the interface servers (required):' : 'channel layer: memory://,'} redis://host:port/db or rediss:// (comma-separated for sharding), or redis+sentinel://host:port/master/db [env ${ENV.layerUrl}]`,
  );
  const fromEnv = env(ENV.layerUrl);
  if (fromEnv !== undefined) return option.default(fromEnv, `$${ENV.layerUrl}`);
  return shared ? option : option.default(DEFAULTS.layerUrl, DEFAULTS.layerUrl);
}

export function databaseOption(): Option {
  return new Option(
    '--database <url>',
    `database: sqlite://./file.sqlite3, sqlite:///abs/path.sqlite3 or postgres://user@host:port/db [env ${ENV.databaseUrl}]`,
  ).default(
    databaseUrlFromEnv(),
    // Never print the variable's value: it may hold a password.
    env(ENV.databaseUrl) ? `$${ENV.databaseUrl}` : DEFAULTS.databaseUrl,
  );
}
