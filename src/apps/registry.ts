import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import type { AppModule } from '../worker/services.js';

/** What the commands need to know about an application to serve and run it. */
export interface AppEntry {
  name: string;
  description: string;
  /** Served by Thyme under /static/. */
  staticDir: string | undefined;
  /** The application's code, loaded only by processes that run it (workers). */
  load(): Promise<AppModule>;
}

const APPS: Record<string, AppEntry> = {
  multichat: {
    name: 'multichat',
    description: 'multi-room chat with login, admin and staff-only rooms',
    staticDir: join(PACKAGE_ROOT, 'src/apps/multichat/static'),
    load: () => import('./multichat/index.js'),
  },
};

export function appNames(): string[] {
  return Object.keys(APPS);
}

export function findApp(name: string): AppEntry | undefined {
  return Object.prototype.hasOwnProperty.call(APPS, name) ? APPS[name] : undefined;
}
