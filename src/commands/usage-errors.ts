import { escapeControls } from '../control-chars.js';
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
 * as the line goes on after it. The reason is commander's one line but for
 * what it quotes of the command line, which may hold anything typed or pasted,
 * a line break or an escape sequence among it: escaped, so that the line shows
 * what was typed rather than act on the terminal.
 */
function oneLine(text: string): string {
  const body = text.trim().replace(/^error: /, '');
  const guess = /\n\(Did you mean (one of )?(.+)\?\)$/.exec(body);
  const reason = escapeControls(guess ? body.slice(0, guess.index) : body).replace(/\.$/, '');
  if (!guess) return reason;
  const [, oneOf = '', words = ''] = guess;
  const quoted = words.split(', ').map((word) => `'${word}'`);
  return `${reason} (did you mean ${oneOf}${quoted.join(', ')}?)`;
}
