import { StringDecoder } from 'node:string_decoder';
import { CommandCancelled, EXIT_INTERRUPTED } from './errors.js';
import { DUPLICATE_SIGNAL_MS } from './lifecycle.js';
import { LookupAbort } from './lookup-abort.js';

/** The input side of a prompt: process.stdin, a TTY or a pipe. */
export interface PromptInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

const CTRL_C = '\x03';
const CTRL_D = '\x04';
const CTRL_U = '\x15';
const BACKSPACES = new Set(['\x7f', '\b']);

/**
 * Line prompts for interactive commands, reading one shared buffer so lines typed or
 * piped ahead are never lost between prompts. Hidden prompts on a terminal switch it
 * to raw mode (nothing is echoed; Ctrl-C, Ctrl-D, Backspace and Ctrl-U are handled
 * here); on a pipe, lines are simply read. Ctrl-C or end of input cancels the command.
 */
export class Prompter {
  private pending = '';
  private ended = false;
  private interrupted = false;
  /** A line ended with "\r": a "\n" right after it belongs to the same line break. */
  private skipLineFeed = false;
  private wake: (() => void) | undefined;
  private readonly decoder = new StringDecoder('utf8');
  private readonly onData = (chunk: Buffer | string): void => {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    this.notify();
  };
  private readonly onEnd = (): void => {
    this.pending += this.decoder.end();
    this.ended = true;
    this.notify();
  };
  // Ctrl-C at a visible (cooked) prompt arrives as a signal, not a character:
  // cancelledByCtrlC, which the command runs under, owns it (and ends the "^C" line).
  private readonly onCancel = (): void => {
    this.interrupted = true;
    this.notify();
  };

  constructor(
    /** cancelledByCtrlC's signal. */
    private readonly cancel: AbortSignal,
    private readonly input: PromptInput = process.stdin,
    private readonly output: NodeJS.WritableStream = process.stdout,
  ) {
    input.on('data', this.onData);
    input.on('end', this.onEnd);
    cancel.addEventListener('abort', this.onCancel);
  }

  /** Whether a person is typing (stdin is a terminal). */
  get interactive(): boolean {
    return this.input.isTTY === true;
  }

  /** Asks and returns the line typed (echoed by the terminal as usual). */
  ask(question: string): Promise<string> {
    this.output.write(question);
    return this.readLine(false);
  }

  /** Asks for a secret: on a terminal nothing typed is echoed. */
  async askHidden(question: string): Promise<string> {
    const raw = this.interactive && typeof this.input.setRawMode === 'function';
    // Raw mode before the prompt appears, so nothing typed after seeing it is echoed.
    if (raw) this.input.setRawMode!(true);
    this.output.write(question);
    try {
      return await this.readLine(raw);
    } finally {
      if (raw) {
        this.input.setRawMode!(false);
        this.output.write('\n');
      }
    }
  }

  /** Stops reading so the process can exit. */
  close(): void {
    this.input.removeListener('data', this.onData);
    this.input.removeListener('end', this.onEnd);
    this.cancel.removeEventListener('abort', this.onCancel);
    this.input.pause();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async readLine(raw: boolean): Promise<string> {
    let line = '';
    for (;;) {
      if (this.interrupted) throw new CommandCancelled();
      if (this.skipLineFeed && this.pending.length > 0) {
        if (this.pending.startsWith('\n')) this.pending = this.pending.slice(1);
        this.skipLineFeed = false;
      }
      if (raw) {
        const result = this.consumeRaw(line);
        if (result.done) return result.line;
        line = result.line;
      } else {
        const end = this.pending.search(/[\r\n]/);
        if (end !== -1) {
          const text = this.pending.slice(0, end);
          this.skipLineFeed = this.pending[end] === '\r';
          this.pending = this.pending.slice(end + 1);
          return text;
        }
        if (this.ended && this.pending !== '') {
          const text = this.pending;
          this.pending = '';
          return text;
        }
      }
      if (this.ended) {
        // The prompt is still on its line: the error (on stderr) goes on the next,
        // not after "Password (again): " (raw mode ends its line in askHidden).
        if (!raw) this.output.write('\n');
        throw new CommandCancelled('input ended');
      }
      this.input.resume();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Applies typed characters to `line` the way a terminal's line editor would. */
  private consumeRaw(line: string): { done: boolean; line: string } {
    let current = line;
    while (this.pending.length > 0) {
      const char = String.fromCodePoint(this.pending.codePointAt(0)!);
      this.pending = this.pending.slice(char.length);
      if (char === '\r' || char === '\n') {
        // Enter in raw mode is a lone "\r": a "\n" typed later is a line of its own
        // (the empty answer at the cooked prompt that may come next), not part of it.
        if (char === '\r' && this.pending.startsWith('\n')) this.pending = this.pending.slice(1);
        return { done: true, line: current };
      }
      if (char === CTRL_C) throw new CommandCancelled();
      if (char === CTRL_D) {
        if (current === '') throw new CommandCancelled();
      } else if (BACKSPACES.has(char)) current = [...current].slice(0, -1).join('');
      else if (char === CTRL_U) current = '';
      else if (char >= ' ') current += char;
    }
    return { done: false, line: current };
  }
}

/**
 * What a command run under `cancelledByCtrlC` is given: `signal` aborts on Ctrl-C;
 * `changing()` marks the point past which a Ctrl-C no longer cancels.
 */
export interface CtrlC {
  readonly signal: AbortSignal;
  /**
   * Called just before the command changes anything: from then on a Ctrl-C
   * only aborts `signal`, and the command finishes the change, or has the
   * database cancel it (changeUnlessCancelled), and says what stands
   * ("Operation cancelled." only if nothing was written). Throws if a Ctrl-C
   * came first: the command, already said cancelled, must not go on to change.
   */
  changing(): void;
  /**
   * Until the function it returns is called, a Ctrl-C before the change ends
   * the command only once `settled()`, called at the Ctrl-C, has: what the
   * abort set going (a cancel request on its way to the database) must get
   * there before the process exits without it. The command waits for it, so
   * it must end soon, whatever it waits for.
   */
  cancelledAfter(settled: () => Promise<unknown>): () => void;
}

/**
 * What a lookup run through unlessCancelled needs of a CtrlC: the signal, and
 * the wait for its cancel. A server's start-up, which changes nothing, gives
 * no more (cancelledWhileStarting).
 */
export type LookupInterrupt = Pick<CtrlC, 'signal' | 'cancelledAfter'>;

/**
 * What a second Ctrl-C before the change says it leaves: the first one is then
 * waiting (up to 1 s) for the cancel of a lookup to reach the database
 * (CtrlC.cancelledAfter). Nothing was written; a lookup that the cancel does
 * not reach may still run there once its lock goes, and it only reads. As that
 * wait is no longer than DUPLICATE_SIGNAL_MS, a second Ctrl-C lands after the
 * window and before the wait's end only in a process held up through it
 * (stopped by Ctrl-Z, or starved of CPU); the message must be true then too.
 */
const LOOKUP_ABANDONED = 'the lookup under way was abandoned, and nothing was changed';

/**
 * Runs a command, which a Ctrl-C (SIGINT) cancels until it starts its change as
 * it does a prompt: "Operation cancelled.", exit 1, rather than the process
 * killed by the signal, whatever it waits for (the database, the channel layer,
 * the user's typing: give `signal` to the Prompter). `signal` lets a wait stop
 * at once, so that it stops holding the process open. A second Ctrl-C exits at
 * once (EXIT_INTERRUPTED): the first one's wind-down may be waiting on a
 * database that stopped answering, and Ctrl-C must still end the process then.
 * It says `leftUndone` once the command is changing, and before that that the
 * lookup the first one was cancelling was abandoned, nothing changed.
 */
export async function cancelledByCtrlC<T>(
  work: (ctrlC: CtrlC) => Promise<T>,
  {
    leftUndone = 'what it was doing may still be done by the database',
    cancelledStatus = 1,
  }: {
    /**
     * What a second Ctrl-C once the command is changing leaves behind, said as
     * it exits: a function for what depends on how far the command got.
     */
    leftUndone?: string | (() => string);
    /**
     * The exit status of "Operation cancelled.": 1, as Django's commands that
     * prompt end at a Ctrl-C (createsuperuser, changepassword); a command that
     * prompts for nothing (showmigrations) gives EXIT_INTERRUPTED, the status
     * the shell gave it when Ctrl-C killed it, before it cancelled its lookup.
     */
    cancelledStatus?: number;
  } = {},
): Promise<T> {
  const lookups = new LookupAbort();
  let changed = false;
  let firstAt: number | undefined;
  let onSigint!: () => void;
  const interrupted = new Promise<never>((_resolve, reject) => {
    onSigint = () => {
      if (firstAt !== undefined) {
        // npm forwards the terminal's SIGINT to its child: the same Ctrl-C, twice.
        if (performance.now() - firstAt < DUPLICATE_SIGNAL_MS) return;
        endTerminalLine();
        process.stderr.write(
          `gredis: Ctrl-C again: exiting without waiting; ${changed ? said(leftUndone) : LOOKUP_ABANDONED}.\n`,
        );
        process.exit(EXIT_INTERRUPTED);
      }
      firstAt = performance.now();
      endTerminalLine();
      const settled = lookups.abort();
      if (!changed) void settled.then(() => reject(new CommandCancelled()));
    };
  });
  process.on('SIGINT', onSigint);
  try {
    const ctrlC: CtrlC = {
      signal: lookups.signal,
      changing: () => {
        if (lookups.signal.aborted) throw new CommandCancelled();
        changed = true;
      },
      cancelledAfter: lookups.cancelledAfter,
    };
    return await Promise.race([work(ctrlC), interrupted]);
  } catch (error) {
    // Said here, or by the lookup the Ctrl-C cancelled (unlessCancelled): the
    // command's status either way.
    if (error instanceof CommandCancelled && lookups.signal.aborted)
      throw new CommandCancelled(undefined, cancelledStatus);
    throw error;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/**
 * Ends the line the terminal echoed "^C" on, as at a prompt, so that what is
 * said next starts a line of its own: on stdout if that is the terminal, else
 * on stderr if that is. Into a pipe or a file it would only be a stray blank
 * line (`gredis showmigrations | less`), so nothing is written there.
 */
function endTerminalLine(): void {
  if (process.stdout.isTTY) process.stdout.write('\n');
  else if (process.stderr.isTTY) process.stderr.write('\n');
}

function said(text: string | (() => string)): string {
  return typeof text === 'string' ? text : text();
}
