import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { CommandCancelled, CommandFailed } from './commands/errors.js';
import { registerCommands } from './commands/index.js';
import { gredisInvocation } from './commands/invocation.js';
import { usageErrorOutput } from './commands/usage-errors.js';
import { escapeControls, escapeStack } from './control-chars.js';
import { PACKAGE_ROOT } from './paths.js';
import { InvalidSetting } from './settings.js';

export function buildProgram(): Command {
  const program = new Command('gredis')
    // "Usage: node bin/gredis.js thyme …" in a checkout: the help shows what to type.
    .name(gredisInvocation())
    .description(
      'Realtime channels for Node.js: interface server, channel layer, workers and the MultiChat app.',
    )
    .version(packageVersion(), '-V, --version')
    .exitOverride();
  program.configureOutput({ outputError: usageErrorOutput() });
  registerCommands(program);
  // Subcommands built on their own do not inherit these; usage errors must exit 2 everywhere.
  for (const command of program.commands) {
    command
      // Wrap descriptions even beside thyme's long flags (commander stops below 40 columns).
      .configureHelp({ minWidthToWrap: 30 })
      .exitOverride()
      .configureOutput({ outputError: usageErrorOutput(command.name()) });
  }
  return program;
}

/**
 * Gredis's own version, from its package.json. Not npm_package_version: under
 * `npm run` in a project that depends on Gredis, that is the project's version.
 */
function packageVersion(): string {
  const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return version;
}

/** Runs the CLI: bad usage exits 2 with a one-line reason, runtime failures exit 1. */
export async function main(argv: string[]): Promise<void> {
  endOnOutputFailure();
  const program = buildProgram();
  // No command at all asks what there is, as Django's manage.py takes it: the
  // help on stdout, exit 0 (commander's default is an error, on stderr).
  if (argv.length <= 2) {
    program.outputHelp();
    return;
  }
  try {
    await program.parseAsync(withoutHelpForUnknownCommand(program, argv));
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version "fail" with exit code 0.
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    const verbose = verbosityIn(argv) === 2;
    // A failure's message carries what was typed (a username, a URL) and what a
    // database answered: escaped, it is one line that shows what it holds.
    const message = error instanceof Error ? error.message : String(error);
    console.error(`gredis: ${escapeControls(message)}`);
    // A setting Gredis cannot use is bad usage, like a bad flag.
    process.exitCode =
      error instanceof CommandFailed ? error.exitCode : error instanceof InvalidSetting ? 2 : 1;
    if (verbose && error instanceof Error && error.stack)
      console.error(escapeStack(error.stack, error.message));
    if (error instanceof CommandCancelled) process.exit();
  }
}

/**
 * Output that cannot be written ends the command with exit 1, not with Node's
 * stack trace for an unhandled 'error' event. A reader that went away
 * (`gredis migrate --list | head -1`: EPIPE) is no news to whoever closed it,
 * and is not told; any other failure (a full disk) is said on stderr.
 * A server's logs go through the logger, not these streams.
 */
function endOnOutputFailure(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE')
      process.stderr.write(`gredis: cannot write to stdout: ${error.message}\n`);
    process.exit(1);
  });
  // Nowhere left to say anything: an unwritable stderr only loses what it would have said.
  process.stderr.on('error', () => undefined);
}

/** The last verbosity the arguments ask for, in any of the forms commander takes. */
function verbosityIn(argv: string[]): number | undefined {
  let level: number | undefined;
  argv.forEach((arg, i) => {
    let value: string | undefined;
    if (arg === '-v' || arg === '--verbosity') value = argv[i + 1];
    else if (arg.startsWith('--verbosity=')) value = arg.slice('--verbosity='.length);
    else if (/^-v\d/.test(arg)) value = arg.slice(2);
    if (value !== undefined && /^\d+$/.test(value)) level = Number(value);
  });
  return level;
}

/**
 * `gredis bogus --help` would print the top-level help and exit 0, as if `bogus`
 * were fine, and `gredis help bogus` the same help with exit 2 and no reason:
 * without the help, commander reports the unknown command (exit 2).
 */
function withoutHelpForUnknownCommand(program: Command, argv: string[]): string[] {
  const words = argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  const known = name === undefined || program.commands.some((c) => c.name() === name);
  if (known) return argv;
  const helpAt = words[0] === 'help' ? argv.indexOf('help', 2) : -1;
  return argv.filter((arg, i) => i !== helpAt && arg !== '--help' && arg !== '-h');
}
