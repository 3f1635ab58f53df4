import { Command, Option } from 'commander';
import { databaseOption, verbosityOption } from './options.js';

/** Where --noinput takes the password from (Django's is DJANGO_SUPERUSER_PASSWORD). */
export const SUPERUSER_PASSWORD_ENV = 'GREDIS_SUPERUSER_PASSWORD';

export interface CreateSuperuserFlags {
  username?: string;
  email?: string;
  noinput?: boolean;
  /** false with --no-input, Django's other spelling of --noinput. */
  input?: boolean;
  database: string;
  verbosity: number;
}

export function createSuperuserCommand(): Command {
  return new Command('createsuperuser')
    .description(
      `create a staff superuser; prompts for username, email and password (twice, hidden), or with --noinput reads the password from ${SUPERUSER_PASSWORD_ENV}`,
    )
    .addOption(new Option('--username <username>', 'the username (required with --noinput)'))
    .addOption(new Option('--email <email>', 'the email address'))
    .addOption(
      new Option(
        '--noinput',
        `do not prompt: needs --username; the password is read from ${SUPERUSER_PASSWORD_ENV}`,
      ),
    )
    .addOption(new Option('--no-input', 'the same as --noinput (as in Django)').hideHelp())
    .addOption(databaseOption())
    .addOption(verbosityOption())
    .action(async (flags: CreateSuperuserFlags) => {
      const { runCreateSuperuser } = await import('./createsuperuser-action.js');
      await runCreateSuperuser(flags);
    });
}
