import { Command, Option } from 'commander';
import { DEFAULTS } from '../settings.js';
import { databaseOption, layerOption, numberIn, verbosityOption } from './options.js';

export interface ChangePasswordFlags {
  database: string;
  layer: string;
  closeWait: number;
  verbosity: number;
}

/** The exit status once the password is changed, but the user's chat sockets may still be open. */
export const EXIT_SOCKETS_NOT_CLOSED = 3;

export function changePasswordCommand(): Command {
  return new Command('changepassword')
    .description(
      "change a user's password (prompts twice, hidden), end their sessions and close their chat sockets",
    )
    .argument('<username>', 'the user whose password changes')
    .addOption(databaseOption())
    .addOption(layerOption())
    .addOption(
      new Option(
        '--close-wait <seconds>',
        `how long to go on trying to close the user's chat sockets while the channel layer does not take it (then exit ${EXIT_SOCKETS_NOT_CLOSED})`,
      )
        .default(DEFAULTS.closeWait)
        .argParser(numberIn(0, 86_400)),
    )
    .addOption(verbosityOption())
    .action(async (username: string, flags: ChangePasswordFlags) => {
      const { runChangePassword } = await import('./changepassword-action.js');
      await runChangePassword(username, flags);
    });
}
