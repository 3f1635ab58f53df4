import { Command } from 'commander';
import { databaseOption, layerOption, verbosityOption } from './options.js';

export interface ChangePasswordFlags {
  database: string;
  layer: string;
  verbosity: number;
}

export function changePasswordCommand(): Command {
  return new Command('changepassword')
    .description(
      "change a user's password (prompts twice, hidden), end their sessions and close their chat sockets",
    )
    .argument('<username>', 'the user whose password changes')
    .addOption(databaseOption())
    .addOption(layerOption())
    .addOption(verbosityOption())
    .action(async (username: string, flags: ChangePasswordFlags) => {
      const { runChangePassword } = await import('./changepassword-action.js');
      await runChangePassword(username, flags);
    });
}
