import { gredisCommand, gredisInvocation } from './invocation.js';

/** What commander's output configuration is given to write an error with. */
export type ErrorOutput = (text: string, write: (text: string) => void) => void;

/**
 * Writes commander's usage errors (its own, "error: unknown option …", and
 * those raised through command.error()) in the form of every other usage error
 * the CLI prints: "gredis: REASON", on one line (cli.md: a one-line reason), so
 * that one pattern finds them all. The help to read ends the line, ready to
 * paste: the program's, which lists the commands, for a command mistyped;
 * `subcommand`'s for an error in its options or arguments.
 */
export function usageErrorOutput(subcommand?: string): ErrorOutput {
  const help =
    subcommand === undefined
      ? `"${gredisInvocation()} --help" lists the commands`
      : `"${gredisCommand(subcommand)} --help" shows its usage`;
  return (text, write) => write(`gredis: ${oneLine(text)}; ${help}\n`);
}

/**
 * commander's error text as one line. commander writes its guess at what was
 * meant on a line of its own, "(Did you mean thyme?)": it goes in parentheses
 * after the reason, its words quoted as the reason quotes what was typed
 * ("unknown command 'thym' (did you mean 'thyme'?)"). A closing full stop goes,
 * as the line goes on after it.
 */
function oneLine(text: string): string {
  const [reason = '', ...more] = text
    .trim()
    .replace(/^error: /, '')
    .split('\n')
    .map((line) => line.trim());
  const guess = /^\(Did you mean (one of )?(.+)\?\)$/.exec(more.join(' '));
  if (!guess) return [reason, ...more].join(' ').replace(/\.$/, '');
  const [, oneOf = '', words = ''] = guess;
  const quoted = words.split(', ').map((word) => `'${word}'`);
  return `${reason.replace(/\.$/, '')} (did you mean ${oneOf}${quoted.join(', ')}?)`;
}
