/**
 * The chat benchmark's users, sessions and rooms, made directly with the
 * repositories (test/helpers' Fixtures) in a fresh database: one logged-in
 * session per simulated client, so every handshake carries its own `sessionid`.
 */
import type { Database } from '../../src/db/connection.js';
import { Fixtures } from '../../test/helpers/deployment.js';

export interface ChatFixtures {
  /** Per client: its session key (the `sessionid` cookie) and its username. */
  sessionKeys: string[];
  usernames: string[];
  /** The rooms' database ids. */
  roomIds: number[];
}

/** Users made at once (each hashes a password and inserts two rows). */
const BATCH = 50;

export async function createChatFixtures(
  db: Database,
  users: number,
  rooms: number,
): Promise<ChatFixtures> {
  const fixtures = new Fixtures(db);
  const roomIds: number[] = [];
  for (let r = 0; r < rooms; r++) roomIds.push((await fixtures.room(`Bench room ${r + 1}`)).id);
  const sessionKeys: string[] = [];
  const usernames: string[] = [];
  for (let start = 0; start < users; start += BATCH) {
    const made = await Promise.all(
      Array.from({ length: Math.min(BATCH, users - start) }, async (_, k) => {
        const username = `bench${start + k}`;
        const user = await fixtures.user(username);
        return { username, key: await fixtures.login(user) };
      }),
    );
    for (const { username, key } of made) {
      usernames.push(username);
      sessionKeys.push(key);
    }
  }
  return { sessionKeys, usernames, roomIds };
}
