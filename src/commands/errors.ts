/** The status of a process Ctrl-C (SIGINT) ended, as a shell reports one the signal killed (128 + 2). */
export const EXIT_INTERRUPTED = 130;

/** A failure the user can act on: printed as one line (no stack), exit status 1. */
export class CommandFailed extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CommandFailed';
  }
}

/**
 * A command cancelled (Ctrl-C, or input ended at a prompt) before it changed
 * anything: with nothing left to finish, the process ends once it is said, not
 * when a wait it left (a connection to a server that does not answer, a query
 * waiting for a lock) gives up.
 */
export class CommandCancelled extends CommandFailed {
  constructor(why?: string, exitCode = 1) {
    super(why ? `Operation cancelled: ${why}.` : 'Operation cancelled.', exitCode);
    this.name = 'CommandCancelled';
  }
}
