/**
 * Lanes: per-socket ordered execution across processes (the worker's ordering
 * mechanism) and counters, on the in-process layer and on Redis.
 */
import { suite } from './helpers/suite.js';
import * as assert from 'uvu/assert';
import {
  ChannelFull,
  createLayer,
  InvalidMessage,
  LaneTurnLost,
  type ChannelLayer,
  type LaneTurn,
  type LayerOptions,
  type Message,
} from '../src/index.js';
import { LANE_FINISH } from '../src/layer/redis/lane-scripts.js';
import { MAX_WAITING_EVENTS } from '../src/layer/types.js';
import { testPrefix } from './helpers/layers.js';
import { captureLogs, type CapturedLine, WARN } from './helpers/log-capture.js';
import { rawClient, RedisServer, SHARED_REDIS_URL } from './helpers/redis-server.js';
import { withAclUser } from './helpers/redis-acl.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { sleep, waitFor, within } from './helpers/wait.js';

for (const url of ['memory://', SHARED_REDIS_URL]) {
  const test = suite(`lanes [${url.split(':')[0]}]`);
  const open: ChannelLayer[] = [];
  const make = (options: Partial<LayerOptions> = {}): ChannelLayer => {
    const layer = createLayer(url, { prefix: testPrefix(), ...options });
    open.push(layer);
    return layer;
  };
  test.after.each(async () => {
    for (const layer of open.splice(0)) {
      await layer.flush().catch(() => undefined);
      await layer.close();
    }
  });

  test('events run one at a time in order; whoever finishes runs the parked next one', async () => {
    const { lanes } = make();
    assert.equal(await lanes.claim('sock', 0, { e: 0 }), { kind: 'run', state: undefined });
    assert.equal(await lanes.claim('sock', 1, { e: 1 }), { kind: 'parked' });
    assert.equal(await lanes.claim('sock', 2, { e: 2 }), { kind: 'parked' });
    const next = await lanes.finish('sock', 0, { joined: ['a'] });
    assert.equal(next, { lane: 'sock', order: 1, event: { e: 1 }, state: { joined: ['a'] } });
    const after = await lanes.finish('sock', 1, { joined: ['a', 'b'] });
    assert.is(after?.order, 2);
    assert.is(await lanes.finish('sock', 2, { joined: ['a', 'b'] }), undefined);
    const claim = await lanes.claim('sock', 3, { e: 3 });
    assert.equal(claim, { kind: 'run', state: { joined: ['a', 'b'] } });
  });

  test('an event arriving before its predecessor waits for it', async () => {
    const { lanes } = make();
    await lanes.claim('s', 0, {});
    await lanes.finish('s', 0, undefined);
    assert.equal(await lanes.claim('s', 2, { e: 2 }), { kind: 'parked' });
    assert.is((await lanes.claim('s', 1, { e: 1 })).kind, 'run');
    assert.equal((await lanes.finish('s', 1, undefined))?.event, { e: 2 });
  });

  test("a state the wire cannot carry is refused with its path, nothing done; a finish without one keeps the lane's", async () => {
    const { lanes } = make();
    await lanes.claim('u', 0, {});
    await lanes.finish('u', 0, { n: 1 });
    await lanes.claim('u', 1, { e: 1 });
    assert.is((await lanes.claim('u', 2, { e: 2 })).kind, 'parked');
    const circular: Message = { n: 2 };
    circular.self = circular;
    const refusals: [Message, string][] = [
      [circular, 'state.self'],
      [{ f: (() => 1) as unknown as Message[string] }, 'state.f'],
      [{ when: new Date() as unknown as Message[string] }, 'state.when'],
    ];
    for (const [state, path] of refusals) {
      try {
        await lanes.finish('u', 1, state);
        assert.unreachable(`${path} accepted`);
      } catch (error) {
        assert.instance(error, InvalidMessage);
        assert.is((error as InvalidMessage).path, path);
      }
    }
    // The turn is still this caller's: its finish hands over the parked event,
    // with no state (the lane kept its own, { n: 1 }, which a claim reads).
    const next = await lanes.finish('u', 1, undefined);
    assert.equal(next, { lane: 'u', order: 2, event: { e: 2 }, state: undefined });
    await lanes.finish('u', 2, undefined);
    assert.equal(await lanes.claim('u', 3, {}), { kind: 'run', state: { n: 1 } });
  });

  test('duplicates and events after the end are stale', async () => {
    const { lanes } = make();
    await lanes.claim('d', 0, {});
    assert.is((await lanes.claim('d', 0, {})).kind, 'stale');
    await lanes.finish('d', 0, undefined);
    assert.is((await lanes.claim('d', 0, {})).kind, 'stale');
    await lanes.claim('d', 1, {});
    await lanes.finish('d', 1, undefined, { end: true });
    if (url !== 'memory://') assert.is((await lanes.claim('d', 2, {})).kind, 'stale');
  });

  if (url !== 'memory://') {
    test('an ended lane is only a marker, kept for the message expiry and a minute', async () => {
      const prefix = testPrefix();
      const { lanes } = make({ prefix, expiry: 5 });
      await lanes.claim('e', 0, {});
      await lanes.finish('e', 0, { joined: ['a'] }, { end: true });
      const raw = rawClient();
      try {
        const key = `${prefix}gredis:lane:e`;
        assert.equal(await raw.hgetall(key), { ended: '1' });
        const ttl = await raw.ttl(key);
        assert.ok(ttl > 60 && ttl <= 65, `its TTL is ${ttl} s`);
      } finally {
        raw.disconnect();
      }
    });

    test("every process stopped at once with sockets open: the lanes' index left behind expires as the lanes do, and a worker started before then still runs them", async () => {
      const prefix = testPrefix();
      const options = { prefix, groupExpiry: 30 }; // the lanes' ttl
      const thyme = make(options);
      const worker = make(options);
      await thyme.lanes.announceAndSend('open', 0, { e: 'connect' }, 'events.stop');
      assert.is((await worker.lanes.claim('open', 0, { e: 'connect' })).kind, 'run');
      assert.is(await worker.lanes.finish('open', 0, { user: 1 }), undefined);
      await worker.close(); // stopped first: nothing runs the disconnects
      await thyme.lanes.announceAndSend('open', 1, { e: 'disconnect' }, 'events.stop');
      await thyme.lanes.announceAndSend('shut', 0, { e: 'disconnect' }, 'events.stop');
      await thyme.close();
      const raw = rawClient();
      try {
        const index = await raw.pttl(`${prefix}gredis:lanes`);
        assert.ok(index > 0 && index <= 30_000, `the index's PTTL is ${index} ms`);
        for (const lane of ['open', 'shut']) {
          const ttl = await raw.pttl(`${prefix}gredis:lane:${lane}`);
          assert.ok(ttl > 0 && ttl <= index, `${lane}'s PTTL ${ttl} ms, within the index's`);
        }
      } finally {
        raw.disconnect();
      }
      const restarted = make(options);
      assert.is((await restarted.lanes.claim('open', 1, { e: 'disconnect' })).kind, 'run');
      assert.is(await restarted.lanes.finish('open', 1, undefined, { end: true }), undefined);
      assert.is((await restarted.lanes.claim('shut', 0, { e: 'disconnect' })).kind, 'run');
      assert.is(await restarted.lanes.finish('shut', 0, undefined, { end: true }), undefined);
    });

    test('each write that renews the expiry of a lane the index lists renews the index too, to the same ttl', async () => {
      const prefix = testPrefix();
      const { lanes } = make({ prefix, groupExpiry: 30 });
      const raw = rawClient();
      const index = `${prefix}gredis:lanes`;
      // White-box: the index's expiry cut short before each step, which must
      // give it back at least the lane's (a parked lane is found only through it).
      const renews = async (step: string, write: () => Promise<unknown>) => {
        await raw.pexpire(index, 1000);
        await write();
        // Read at one instant (MULTI): set to the same ttl, both count down alike.
        const read = await raw.multi().pttl(`${prefix}gredis:lane:l`).pttl(index).exec();
        const [lane, indexed] = read!.map(([, ttl]) => ttl as number);
        assert.ok(lane > 1000 && indexed >= lane, `${step}: lane ${lane} ms, index ${indexed} ms`);
      };
      try {
        await lanes.announce('l', 0, { e: 0 }); // creates both
        await renews('a deposit', () => lanes.announce('l', 1, { e: 1 }));
        await renews('a claim with deposits behind', () => lanes.claim('l', 0, { e: 0 }));
        await renews('a claim that parks', () => lanes.claim('l', 2, { e: 2 }));
        await renews('a finish handing over', () => lanes.finish('l', 0, undefined));
        await lanes.announce('l', 4, { e: 4 });
        await renews('a finish leaving a gap', () => lanes.finish('l', 1, undefined));
      } finally {
        raw.disconnect();
      }
    });
  }

  test('a turn carries its effects: applied in order with its finish', async () => {
    const layer = make();
    const socket = await layer.newChannel('effects');
    await layer.lanes.claim('e', 0, {});
    const before = layer.stats.roundTrips;
    const next = await layer.lanes.finish('e', 0, undefined, {
      effects: [
        { kind: 'groupAdd', group: 'room', channel: socket },
        { kind: 'send', channel: socket, message: { n: 1 } },
        { kind: 'groupSend', group: 'room', message: { n: 2 } },
        { kind: 'groupDiscard', group: 'room', channel: socket },
        { kind: 'groupSend', group: 'room', message: { n: 3 } },
        { kind: 'send', channel: 'plain.effects', message: { n: 4 } },
      ],
    });
    assert.is(next, undefined);
    if (url !== 'memory://') assert.is(layer.stats.roundTrips - before, 1, 'one script');
    assert.equal(await layer.receive(socket), { n: 1 });
    assert.equal(await layer.receive(socket), { n: 2 });
    assert.equal(await layer.receive('plain.effects'), { n: 4 });
    await layer.send(socket, { n: 5 }); // n: 3 went to nobody: the group was empty
    assert.equal(await layer.receive(socket), { n: 5 });
    assert.is((await layer.lanes.claim('e', 1, {})).kind, 'run');
  });

  test('turns of several lanes finishing at once each apply their own effects', async () => {
    const layer = make();
    const socket = await layer.newChannel('many');
    for (const lane of ['m1', 'm2', 'm3']) await layer.lanes.claim(lane, 0, {});
    const before = layer.stats.roundTrips;
    await Promise.all(
      ['m1', 'm2', 'm3'].map((lane) =>
        layer.lanes.finish(
          lane,
          0,
          { lane },
          {
            effects: [{ kind: 'send', channel: socket, message: { from: lane } }],
          },
        ),
      ),
    );
    if (url !== 'memory://') assert.is(layer.stats.roundTrips - before, 1, 'one batched script');
    const got = [
      await layer.receive(socket),
      await layer.receive(socket),
      await layer.receive(socket),
    ];
    assert.equal(got, [{ from: 'm1' }, { from: 'm2' }, { from: 'm3' }]);
    for (const lane of ['m1', 'm2', 'm3'])
      assert.equal(await layer.lanes.claim(lane, 1, {}), { kind: 'run', state: { lane } });
  });

  test('a full channel stops the effects after it; the turn still ends', async () => {
    const layer = make({ capacity: 1 });
    const socket = await layer.newChannel('full');
    await layer.send(socket, { filler: true });
    await layer.lanes.claim('f', 0, {});
    await layer.lanes.finish(
      'f',
      0,
      { kept: true },
      {
        effects: [
          { kind: 'send', channel: 'first.effect', message: { n: 1 } },
          { kind: 'send', channel: socket, message: { n: 2 } },
          { kind: 'send', channel: 'after.full', message: { n: 3 } },
        ],
      },
    );
    assert.equal(await layer.lanes.claim('f', 1, {}), { kind: 'run', state: { kept: true } });
    assert.equal(await layer.receive('first.effect'), { n: 1 });
    assert.equal(await layer.receive(socket), { filler: true });
    await layer.send('after.full', { marker: true }); // n: 3 was dropped
    assert.equal(await layer.receive('after.full'), { marker: true });
  });

  test('apply: a running turn applies effects ahead of its finish, at once; a full channel rejects', async () => {
    const layer = make({ capacity: 1 });
    const socket = await layer.newChannel('apply');
    await layer.lanes.claim('a', 0, {});
    const before = layer.stats.roundTrips;
    await layer.lanes.apply('a', 0, [
      { kind: 'send', channel: socket, message: { join: 1 } },
      { kind: 'groupAdd', group: 'joined', channel: socket },
    ]);
    if (url !== 'memory://') assert.is(layer.stats.roundTrips - before, 1, 'one script');
    assert.equal(await layer.receive(socket), { join: 1 });
    await layer.groupSend('joined', { room: 'hello' }); // the add was applied
    assert.equal(await layer.receive(socket), { room: 'hello' });
    await layer.lanes.apply('a', 0, []); // nothing to do: no call
    // (A channel this process reads is drained as it fills: a plain one fills up.)
    await layer.send('full.plain', { filler: true });
    try {
      await layer.lanes.apply('a', 0, [
        { kind: 'send', channel: 'before.full', message: { n: 1 } },
        { kind: 'send', channel: 'full.plain', message: { n: 2 } },
        { kind: 'send', channel: 'after.full', message: { n: 3 } },
      ]);
      assert.unreachable('full.plain was full');
    } catch (error) {
      assert.instance(error, ChannelFull);
    }
    assert.equal(await layer.receive('before.full'), { n: 1 });
    await layer.send('after.full', { marker: true }); // n: 3 was dropped
    assert.equal(await layer.receive('after.full'), { marker: true });
    // The turn is still running: its finish ends it.
    await layer.lanes.finish('a', 0, { done: true });
    assert.equal(await layer.lanes.claim('a', 1, {}), { kind: 'run', state: { done: true } });
  });

  test('lanes are independent', async () => {
    const { lanes } = make();
    assert.is((await lanes.claim('x', 0, {})).kind, 'run');
    assert.is((await lanes.claim('y', 0, {})).kind, 'run');
  });

  test('announced events: a claim clears its deposit; a finish runs the next deposit; late deposits are ignored', async () => {
    const { lanes } = make();
    await lanes.announce('a', 0, { e: 0 });
    await lanes.announce('a', 1, { e: 1 });
    assert.is((await lanes.claim('a', 0, { e: 0 })).kind, 'run');
    const next = await lanes.finish('a', 0, { s: 1 });
    assert.equal(next?.event, { e: 1 }, 'the deposit of 1 runs without anyone having claimed it');
    assert.is(
      (await lanes.claim('a', 1, { e: 1 })).kind,
      'stale',
      'its channel copy is then stale',
    );
    await lanes.announce('a', 1, { e: 1 }); // a late deposit for a running or finished event
    assert.is(await lanes.finish('a', 1, { s: 2 }), undefined);
    assert.is(
      (await lanes.claim('a', 2, { e: 2 })).kind,
      'run',
      'nothing left behind blocks the lane',
    );
  });

  test('a lane nothing claims holds at most MAX_WAITING_EVENTS deposits; a waiting claim still parks', async () => {
    const { lanes } = make();
    const extra = 20;
    // Events 1.. are deposited while nothing claims (a consumer without lanes).
    for (let order = 1; order <= MAX_WAITING_EVENTS + extra; order++)
      await lanes.announce('cap', order, { e: order });
    // A claim past the bound parks its event, so nothing a worker holds is lost.
    const late = MAX_WAITING_EVENTS + extra + 1;
    assert.equal(await lanes.claim('cap', late, { e: late }), { kind: 'parked' });
    assert.is((await lanes.claim('cap', 0, { e: 0 })).kind, 'run');
    let next = await lanes.finish('cap', 0, undefined);
    const ran: number[] = [];
    while (next) {
      ran.push(next.order);
      next = await lanes.finish('cap', next.order, undefined);
    }
    const deposited = Array.from({ length: MAX_WAITING_EVENTS }, (_, i) => i + 1);
    assert.equal(ran, deposited, 'the deposits up to the bound run in order; the lane then waits');
    assert.is(
      (await lanes.claim('cap', MAX_WAITING_EVENTS + 1, { e: 0 })).kind,
      'run',
      'the first event past the bound runs from its channel copy',
    );
  });

  test('announceAndSend: the event is sent and deposited at once; on a full channel, neither', async () => {
    const layer = make({ capacity: 1 });
    const { lanes } = layer;
    const before = layer.stats.roundTrips;
    await lanes.announceAndSend('a', 0, { e: 0 }, 'events');
    if (url !== 'memory://')
      assert.is(layer.stats.roundTrips - before, 2, 'one script, and (once) the holder registers');
    const again = layer.stats.roundTrips;
    await lanes.announceAndSend('b', 0, { e: 0 }, 'other.events');
    if (url !== 'memory://') assert.is(layer.stats.roundTrips - again, 1, 'one script');
    assert.equal(await layer.receive('events'), { e: 0 });
    await lanes.announceAndSend('a', 1, { e: 1 }, 'events');
    try {
      await lanes.announceAndSend('a', 2, { e: 2 }, 'events');
      assert.unreachable('the channel was full');
    } catch (error) {
      assert.instance(error, ChannelFull);
    }
    assert.is((await lanes.claim('a', 0, { e: 0 })).kind, 'run');
    if (url === 'memory://') {
      // White-box: nothing else shows a deposit the claim left behind, which
      // would hold a copy of every event of a socket until it closed.
      const parked = (
        lanes as unknown as { lanes: Map<string, { parked: Map<number, unknown> }> }
      ).lanes.get('a')!.parked;
      assert.equal([...parked.keys()], [1], "the claim cleared 0's deposit");
    }
    const next = await lanes.finish('a', 0, undefined);
    assert.equal(next?.event, { e: 1 }, 'the deposit of 1 runs');
    assert.is(await lanes.finish('a', 1, undefined), undefined, '2 was not deposited');
  });

  test('a finish that hands an event over takes its channel copy back', async () => {
    const layer = make();
    const { lanes } = layer;
    /** What `channel` holds, in order: taken off it, up to a marker sent last. */
    const held = async (channel: string): Promise<Message[]> => {
      await layer.send(channel, { marker: true });
      const got: Message[] = [];
      for (;;) {
        const message = await layer.receive(channel);
        if (message.marker) return got;
        got.push(message);
      }
    };
    for (let order = 0; order < 3; order++)
      await lanes.announceAndSend('h', order, { e: order }, 'h.events');
    assert.equal(await layer.receive('h.events'), { e: 0 });
    assert.is((await lanes.claim('h', 0, { e: 0 })).kind, 'run');
    assert.equal((await lanes.finish('h', 0, { n: 1 }))?.event, { e: 1 });
    assert.equal((await lanes.finish('h', 1, { n: 2 }))?.event, { e: 2 });
    assert.equal(await held('h.events'), [], "1's and 2's copies are gone");
    assert.is(await lanes.finish('h', 2, undefined), undefined);
    // Redis remembers the channel of a lane's latest copy only: 1's, on the
    // channel before 2's, stays (its claim finds it stale); 2's goes.
    await lanes.announceAndSend('x', 0, { e: 0 }, 'x.events');
    await lanes.announceAndSend('x', 1, { e: 1 }, 'x.events');
    await lanes.announceAndSend('x', 2, { e: 2 }, 'x.ends');
    assert.equal(await layer.receive('x.events'), { e: 0 });
    assert.is((await lanes.claim('x', 0, { e: 0 })).kind, 'run');
    assert.equal((await lanes.finish('x', 0, undefined))?.event, { e: 1 });
    assert.equal((await lanes.finish('x', 1, undefined))?.event, { e: 2 });
    assert.equal(await held('x.ends'), [], "2's copy is gone");
    if (url === 'memory://') assert.equal(await held('x.events'), [], "and 1's");
    else assert.equal(await held('x.events'), [{ e: 1 }], "1's stays");
    assert.equal(await lanes.claim('x', 1, { e: 1 }), { kind: 'stale' });
    // A copy taken before its event was handed over is stale to its claim.
    await lanes.announceAndSend('p', 0, { e: 0 }, 'p.events');
    await lanes.announceAndSend('p', 1, { e: 1 }, 'p.events');
    assert.equal(await layer.receive('p.events'), { e: 0 });
    assert.is((await lanes.claim('p', 0, { e: 0 })).kind, 'run');
    assert.equal(await layer.receive('p.events'), { e: 1 }, 'taken while 0 runs');
    assert.equal((await lanes.finish('p', 0, undefined))?.event, { e: 1 });
    assert.equal(await lanes.claim('p', 1, { e: 1 }), { kind: 'stale' });
  });

  test('counters: a decrement takes one back, never below 0, and at 0 ends the window', async () => {
    const { counters } = make();
    await counters.increment('places', 60);
    assert.is(await counters.increment('places', 60), 2);
    assert.is(await counters.decrement('places'), 1);
    assert.is(await counters.decrement('places'), 0);
    assert.is(await counters.decrement('places'), 0, 'not below 0');
    assert.is(await counters.get('places'), 0);
    assert.is(await counters.decrement('never'), 0);
    assert.is(await counters.get('never'), 0, 'a decrement alone leaves nothing');
  });

  test('counters count within a window and reset', async () => {
    const { counters } = make();
    assert.is(await counters.increment('login:bob', 60), 1);
    assert.is(await counters.increment('login:bob', 60), 2);
    assert.is(await counters.increment('login:eve', 60), 1);
    await counters.reset('login:bob');
    assert.is(await counters.increment('login:bob', 60), 1);
    assert.is(await counters.increment('short', 1), 1);
    await sleep(1100);
    assert.is(await counters.increment('short', 1), 1);
  });

  test.run();
}

const rescue = suite('lanes [redis]: rescue');
let server: RedisServer;
const open: ChannelLayer[] = [];
rescue.before(async () => {
  server = await RedisServer.start();
});
rescue.after(async () => {
  await server.stop();
});
rescue.after.each(async () => {
  for (const layer of open.splice(0)) await layer.close();
});

/**
 * The lanes' timers here: a rescue check every 0.5 s (2 s in production) and a
 * holder taken for dead once missing for 1 s (5 s). The waits that prove
 * something does not happen are scaled to these, with margins as wide as
 * production's would need.
 */
const QUICK: Partial<LayerOptions> = { laneRescueCheck: 0.5, laneHolderMissing: 1 };

function process(
  prefix: string,
  options: Partial<LayerOptions> = {},
): { layer: ChannelLayer; turns: LaneTurn[] } {
  const layer = createLayer(server.url, { prefix, ...QUICK, ...options });
  open.push(layer);
  const turns: LaneTurn[] = [];
  layer.lanes.onRescue((turn) => turns.push(turn));
  return { layer, turns };
}

rescue(
  'a process that dies holding a turn is noticed by its connection, not its lease',
  async () => {
    const prefix = testPrefix();
    const dying = process(prefix, { laneLease: 600 });
    const survivor = process(prefix, { laneLease: 600 });
    await dying.layer.lanes.claim('sock', 0, { e: 0 });
    await dying.layer.lanes.finish('sock', 0, { user: 7 });
    await dying.layer.lanes.claim('sock', 1, { e: 1 });
    await dying.layer.close(); // as if SIGKILLed: its connections vanish with event 1
    assert.is((await survivor.layer.lanes.claim('sock', 2, { e: 2 })).kind, 'parked');
    const turn = await waitFor(() => survivor.turns[0], 8000, 'the rescue');
    assert.equal(turn, { lane: 'sock', order: 2, event: { e: 2 }, state: { user: 7 } });
    assert.is(await survivor.layer.lanes.finish('sock', 2, { user: 7 }), undefined);
  },
);

rescue(
  'a turn held past its lease is taken over; the late finish and its effects are refused',
  async () => {
    const prefix = testPrefix();
    const slow = process(prefix, { laneLease: 1 });
    const other = process(prefix, { laneLease: 1 });
    await slow.layer.lanes.claim('s', 0, {});
    assert.is((await other.layer.lanes.claim('s', 1, { e: 1 })).kind, 'parked');
    const turn = await waitFor(() => other.turns[0], 8000, 'the rescue');
    assert.is(turn.order, 1);
    const late = { kind: 'send', channel: 'late.effect', message: { late: true } } as const;
    assert.is(
      await slow.layer.lanes.finish('s', 0, { stale: true }, { effects: [late] }),
      undefined,
    );
    assert.is((await slow.layer.lanes.claim('s', 0, {})).kind, 'stale');
    await other.layer.send('late.effect', { marker: true }); // the late turn's send was not applied
    assert.equal(await other.layer.receive('late.effect'), { marker: true });
  },
);

rescue('a turn taken over applies nothing ahead of its finish: LaneTurnLost', async () => {
  const prefix = testPrefix();
  const slow = process(prefix, { laneLease: 1 });
  const other = process(prefix, { laneLease: 1 });
  await slow.layer.lanes.claim('t', 0, {});
  assert.is((await other.layer.lanes.claim('t', 1, { e: 1 })).kind, 'parked');
  await waitFor(() => other.turns[0], 8000, 'the rescue');
  try {
    await slow.layer.lanes.apply('t', 0, [
      { kind: 'send', channel: 'late.apply', message: { late: true } },
    ]);
    assert.unreachable('the turn was taken over');
  } catch (error) {
    assert.instance(error, LaneTurnLost);
    assert.is((error as LaneTurnLost).code, 'GREDIS_LANE_TURN_LOST');
  }
  await other.layer.send('late.apply', { marker: true }); // the late send was not applied
  assert.equal(await other.layer.receive('late.apply'), { marker: true });
});

rescue('encrypted (or sharded), a turn applies its effects one by one, then finishes', async () => {
  const { layer } = process(testPrefix(), {
    symmetricEncryptionKeys: ['a key long enough for Fernet, here'],
  });
  const socket = await layer.newChannel('sealed');
  await layer.lanes.claim('x', 0, {});
  const before = layer.stats.roundTrips;
  await layer.lanes.finish('x', 0, undefined, {
    effects: [
      { kind: 'groupAdd', group: 'sealed', channel: socket },
      { kind: 'groupSend', group: 'sealed', message: { n: 1 } },
      { kind: 'send', channel: socket, message: { n: 2 } },
    ],
  });
  assert.is(layer.stats.roundTrips - before, 6, 'hold, add, members, delivery, send, finish');
  assert.equal(await layer.receive(socket), { n: 1 });
  assert.equal(await layer.receive(socket), { n: 2 });
});

rescue('encrypted (or sharded), apply applies effects one by one', async () => {
  const { layer } = process(testPrefix(), {
    symmetricEncryptionKeys: ['a key long enough for Fernet, here'],
  });
  const socket = await layer.newChannel('sealed');
  await layer.lanes.claim('y', 0, {});
  const before = layer.stats.roundTrips;
  await layer.lanes.apply('y', 0, [
    { kind: 'send', channel: socket, message: { join: 1 } },
    { kind: 'groupAdd', group: 'sealed', channel: socket },
  ]);
  assert.is(layer.stats.roundTrips - before, 3, 'the hold, the send, then the add');
  await layer.groupSend('sealed', { n: 2 });
  assert.equal(await layer.receive(socket), { join: 1 });
  assert.equal(await layer.receive(socket), { n: 2 });
});

rescue(
  'encrypted (or sharded), a turn taken over applies nothing, ahead of its finish or with it',
  async () => {
    const prefix = testPrefix();
    const options = {
      laneLease: 1,
      symmetricEncryptionKeys: ['a key long enough for Fernet, here'],
    };
    const slow = process(prefix, options);
    const other = process(prefix, options);
    await slow.layer.lanes.claim('u', 0, {});
    assert.is((await other.layer.lanes.claim('u', 1, { e: 1 })).kind, 'parked');
    await waitFor(() => other.turns[0], 8000, 'the rescue');
    const late = (n: number) =>
      [
        { kind: 'send', channel: 'late.sealed', message: { late: n } },
        { kind: 'groupAdd', group: 'late', channel: 'late.sealed' },
      ] as const;
    try {
      await slow.layer.lanes.apply('u', 0, late(1));
      assert.unreachable('the turn was taken over');
    } catch (error) {
      assert.instance(error, LaneTurnLost);
    }
    assert.is(
      await slow.layer.lanes.finish('u', 0, { stale: true }, { effects: late(2) }),
      undefined,
    );
    await other.layer.send('late.sealed', { marker: true }); // neither late send was applied
    assert.equal(await other.layer.receive('late.sealed'), { marker: true });
    assert.is(await other.layer.groupSend('late', { n: 3 }), 0);
    await other.layer.send('late.sealed', { marker: 2 }); // nor the add: the group reached nobody
    assert.equal(await other.layer.receive('late.sealed'), { marker: 2 });
  },
);

rescue(
  "encrypted (or sharded), effects applied one by one renew the turn's lease first",
  async () => {
    const prefix = testPrefix();
    const { layer } = process(prefix, {
      laneLease: 60,
      symmetricEncryptionKeys: ['a key long enough for Fernet, here'],
    });
    const client = rawClient(server.url);
    try {
      const deadline = async () => Number(await client.hget(`${prefix}gredis:lane:v`, 'deadline'));
      await layer.lanes.claim('v', 0, {});
      const claimed = await deadline();
      await sleep(1100);
      await layer.lanes.apply('v', 0, [{ kind: 'send', channel: 'renewed', message: { n: 1 } }]);
      assert.ok((await deadline()) >= claimed + 1, 'the lease runs from the hold');
      assert.equal(await layer.receive('renewed'), { n: 1 });
    } finally {
      client.disconnect();
    }
  },
);

rescue(
  'encrypted (or sharded), announceAndSend sends, then deposits; a full channel gets neither',
  async () => {
    const { layer } = process(testPrefix(), {
      symmetricEncryptionKeys: ['a key long enough for Fernet, here'],
      capacity: 1,
    });
    const before = layer.stats.roundTrips;
    await layer.lanes.announceAndSend('e', 0, { e: 0 }, 'sealed.events');
    assert.is(
      layer.stats.roundTrips - before,
      3,
      'the send, then the deposit (and the registration, once)',
    );
    try {
      await layer.lanes.announceAndSend('e', 1, { e: 1, attempt: 1 }, 'sealed.events');
      assert.unreachable('the channel was full');
    } catch (error) {
      assert.instance(error, ChannelFull);
    }
    assert.equal(await layer.receive('sealed.events'), { e: 0 });
    await layer.lanes.announceAndSend('e', 1, { e: 1, attempt: 2 }, 'sealed.events');
    assert.is((await layer.lanes.claim('e', 0, { e: 0 })).kind, 'run');
    // A deposit keeps the first copy of an event: the refused attempt left none.
    assert.equal((await layer.lanes.finish('e', 0, undefined))?.event, { e: 1, attempt: 2 });
  },
);

/** What a rescue said of the events it took over. */
function takeovers(lines: CapturedLine[]): CapturedLine[] {
  return lines.filter((line) => /previous event was lost|from its lane/.test(line.msg));
}

rescue('a gap that never fills is skipped after laneGap seconds, and said', async () => {
  const prefix = testPrefix();
  const { logger, lines } = captureLogs();
  const worker = process(prefix, { laneGap: 1, logger });
  await worker.layer.lanes.claim('g', 0, {});
  await worker.layer.lanes.finish('g', 0, undefined);
  assert.is((await worker.layer.lanes.claim('g', 2, { e: 2 })).kind, 'parked'); // 1 was lost
  const turn = await waitFor(() => worker.turns[0], 8000, 'the gap to be skipped');
  assert.is(turn.order, 2);
  assert.equal(
    takeovers(lines).map((line) => line.msg),
    ['took over a lane whose previous event was lost'],
  );
});

/**
 * Restarts `restarted` without its data once the layers have looked at it (the
 * marker set), and waits until `lost`, a layer's onStorageLost, says it noticed.
 */
async function restartLosingData(
  restarted: RedisServer,
  prefix: string,
  lost: Promise<unknown>,
): Promise<void> {
  const raw = rawClient(restarted.url);
  const marked = async (): Promise<boolean> => (await raw.exists(`${prefix}gredis:epoch`)) === 1;
  await waitFor(marked, 5000, 'the marker').finally(() => raw.disconnect());
  await restarted.restart(300);
  await within(lost, 10_000, 'the worker to notice the lost data');
}

rescue(
  'a lane Redis lost with its data (restarted without persistence) is said so, not that an event was lost',
  async () => {
    // Its own server: the suite's must keep its data.
    const restarted = await RedisServer.start();
    const prefix = testPrefix();
    const { logger, lines } = captureLogs();
    const thyme = createLayer(restarted.url, { prefix, ...QUICK, laneGap: 1 });
    const worker = createLayer(restarted.url, { prefix, ...QUICK, laneGap: 1, logger });
    const turns: LaneTurn[] = [];
    worker.lanes.onRescue((turn) => turns.push(turn));
    const lost = new Promise((resolve) => worker.onStorageLost(resolve));
    try {
      await thyme.lanes.announce('s', 0, { e: 0 });
      await worker.lanes.claim('s', 0, { e: 0 });
      await worker.lanes.finish('s', 0, { user: 7 });
      // Both have looked at the server once (the marker is set): the next look compares.
      await restartLosingData(restarted, prefix, lost);
      // The socket's disconnect, as its Thyme sends it once back.
      await thyme.lanes.announce('s', 1, { e: 1 });
      assert.is((await worker.lanes.claim('s', 1, { e: 1 })).kind, 'parked');
      const turn = await waitFor(() => turns[0], 8000, 'the disconnect to run');
      assert.equal(turn, { lane: 's', order: 1, event: { e: 1 }, state: undefined });
      const warned = (): string[] =>
        lines.filter((line) => /lane/.test(line.msg) && line.level >= WARN).map((l) => l.msg);
      assert.equal(warned(), [
        "lane state lost with Redis's data (restarted without persistence); running its event",
      ]);
      // A worker killed mid-event on that host since is still said as a lost event.
      const dying = createLayer(restarted.url, { prefix, ...QUICK });
      await dying.lanes.claim('t', 0, { e: 0 });
      await dying.close(); // as if SIGKILLed, holding the turn
      assert.is((await worker.lanes.claim('t', 1, { e: 1 })).kind, 'parked');
      assert.is((await waitFor(() => turns[1], 8000, 'the takeover')).order, 1);
      assert.equal(warned().slice(1), ['took over a lane whose previous event was lost']);
    } finally {
      await thyme.close();
      await worker.close();
      await restarted.stop();
    }
  },
);

rescue(
  "long after a restart that lost Redis's data, a lane whose first event a killed worker took is not blamed on the restart",
  async () => {
    // Its own server: the suite's must keep its data.
    const restarted = await RedisServer.start();
    const prefix = testPrefix();
    const laneGap = 1;
    const { logger, lines } = captureLogs();
    const worker = createLayer(restarted.url, { prefix, ...QUICK, laneGap, logger });
    const turns: LaneTurn[] = [];
    worker.lanes.onRescue((turn) => turns.push(turn));
    const lost = new Promise((resolve) => worker.onStorageLost(resolve));
    const others: ChannelLayer[] = [];
    try {
      await worker.lanes.claim('before', 0, {});
      await restartLosingData(restarted, prefix, lost);
      const noticed = performance.now();
      // Past when the sockets open at the restart have sent their last events:
      // their Thyme's reconnection (2 s of backoff at most) and a gap, and a second more.
      await sleep(2000 + laneGap * 1000 + 1000 - (performance.now() - noticed));
      // A socket's first event sent with no deposit (a Thyme run with
      // --no-event-lanes, or whose deposit failed), taken by a worker killed
      // before it claimed it.
      const thyme = createLayer(restarted.url, { prefix, ...QUICK, laneGap });
      const dying = createLayer(restarted.url, { prefix, ...QUICK, laneGap });
      others.push(thyme, dying);
      await thyme.send('u.events', { e: 0 });
      assert.equal(await dying.receive('u.events'), { e: 0 });
      await dying.close(); // as if SIGKILLed, event 0 with it
      assert.is((await worker.lanes.claim('u', 1, { e: 1 })).kind, 'parked');
      const turn = await waitFor(() => turns[0], 8000, 'the takeover');
      assert.equal(turn, { lane: 'u', order: 1, event: { e: 1 }, state: undefined });
      assert.equal(
        lines.filter((line) => /lane/.test(line.msg) && line.level >= WARN).map((l) => l.msg),
        [
          'took over a lane with no record of its earlier events (its state was deleted, evicted or expired in Redis, or its first events were lost before any claim); running its event',
        ],
      );
    } finally {
      for (const layer of others) await layer.close();
      await worker.close();
      await restarted.stop();
    }
  },
);

rescue(
  'an event taken from the channel by a process that died before claiming it still runs, from its deposit',
  async () => {
    const prefix = testPrefix();
    const thyme = process(prefix, { laneGap: 1 });
    const { logger, lines } = captureLogs();
    const survivor = process(prefix, { laneGap: 1, logger });
    await thyme.layer.lanes.announce('s', 0, { e: 0 });
    await survivor.layer.lanes.claim('s', 0, { e: 0 });
    assert.is(await survivor.layer.lanes.finish('s', 0, { ok: true }), undefined);
    await thyme.layer.lanes.announce('s', 1, { e: 1 }); // popped by a worker that then died
    await thyme.layer.lanes.announce('s', 2, { e: 2 });
    assert.is((await survivor.layer.lanes.claim('s', 2, { e: 2 })).kind, 'parked');
    const turn = await waitFor(() => survivor.turns[0], 8000, 'the deposit of 1 to run');
    assert.equal(turn, { lane: 's', order: 1, event: { e: 1 }, state: { ok: true } });
    assert.equal((await survivor.layer.lanes.finish('s', 1, { ok: true }))?.event, { e: 2 });
    // Late, and nothing lost: 1 ran, from its deposit (as when Redis was silent
    // for longer than the message expiry, and every channel copy expired).
    assert.equal(
      takeovers(lines).map((line) => line.msg),
      ["ran a socket's event from its lane: its copy on the channel was not taken in time"],
    );
  },
);

rescue(
  'an event a rescue runs from its deposit, its channel copy not taken in time, has that copy taken back: no worker reads it later to find it stale',
  async () => {
    const prefix = testPrefix();
    const thyme = process(prefix, { laneGap: 1 });
    const worker = process(prefix, { laneGap: 1 });
    const queued = async () => {
      const redis = rawClient(server.url);
      try {
        return await redis.zcard(`${prefix}late.events`);
      } finally {
        redis.disconnect();
      }
    };
    await thyme.layer.lanes.announceAndSend('late', 0, { e: 0 }, 'late.events');
    assert.equal(await worker.layer.receive('late.events'), { e: 0 });
    await worker.layer.lanes.claim('late', 0, { e: 0 });
    assert.is(await worker.layer.lanes.finish('late', 0, undefined), undefined);
    // 1's copy waits unread (behind a backlog); 2's claim parks it behind 1.
    await thyme.layer.lanes.announceAndSend('late', 1, { e: 1 }, 'late.events');
    await thyme.layer.lanes.announceAndSend('late', 2, { e: 2 }, 'late.events');
    assert.is((await worker.layer.lanes.claim('late', 2, { e: 2 })).kind, 'parked');
    const turn = await waitFor(() => worker.turns[0], 8000, 'the deposit of 1 to run');
    assert.equal([turn.order, turn.event], [1, { e: 1 }]);
    assert.is(await queued(), 1, "1's copy is gone, 2's is left");
    assert.equal(await worker.layer.receive('late.events'), { e: 2 });
  },
);

rescue('once nothing is parked, no rescue checks run (no Redis commands while idle)', async () => {
  const prefix = testPrefix();
  const a = process(prefix);
  const b = process(prefix);
  await a.layer.lanes.claim('q', 0, {});
  await b.layer.lanes.claim('q', 1, {}); // parks: b arms its rescue check
  const next = await a.layer.lanes.finish('q', 0, undefined);
  await a.layer.lanes.finish('q', next!.order, undefined);
  // b's check (CLIENT LIST, then the rescue script) runs once, finds nothing
  // parked, and stops.
  const trips = b.layer.stats.roundTrips;
  await waitFor(() => b.layer.stats.roundTrips >= trips + 2, 5000, "b's rescue check");
  const client = rawClient(server.url);
  try {
    const before = await commandCalls(client);
    await sleep(2000); // four of its 0.5 s intervals
    assert.is(await commandCalls(client), before);
  } finally {
    client.disconnect(); // left open, it would keep a failed run from exiting
  }
});

/** Waits until a reap has parked the lane's last event at `order`. */
async function lastEventParked(prefix: string, lane: string, order: number): Promise<void> {
  const client = rawClient(server.url);
  try {
    await waitFor(
      async () => (await client.hexists(`${prefix}gredis:lane:${lane}`, `p:${order}`)) === 1,
      15_000,
      'its last event to be parked',
    );
  } finally {
    client.disconnect();
  }
}

/** Commands the server has run so far, INFO (the test's own) aside. */
async function commandCalls(client: ReturnType<typeof rawClient>): Promise<number> {
  return [
    ...(await client.info('commandstats')).matchAll(/^cmdstat_(?!info)[^:]+:calls=(\d+)/gm),
  ].reduce((n, m) => n + Number(m[1]), 0);
}

/**
 * Claims (and ends) a lane of its own every 100 ms, as a worker serving other
 * sockets does, until the returned function is called.
 */
function keepClaiming(layer: ChannelLayer): () => void {
  let n = 0;
  const timer = setInterval(() => {
    const lane = `bystander.${n++}`;
    void layer.lanes
      .claim(lane, 0, {})
      .then(() => layer.lanes.finish(lane, 0, undefined, { end: true }))
      .catch(() => undefined);
  }, 100);
  return () => clearInterval(timer);
}

/** The lanes of one holder process: as an interface server's sockets, named after its channels. */
async function holderLanes(holder: ChannelLayer, count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, () => holder.newChannel('thyme')));
}

/** Runs a lane's connect (order 0), announced by its holder, on `worker`, saving `state`. */
async function connected(
  holder: ChannelLayer,
  worker: ChannelLayer,
  lane: string,
  state: Message,
): Promise<void> {
  await holder.lanes.announce(lane, 0, { e: 0 });
  assert.is((await worker.lanes.claim(lane, 0, { e: 0 })).kind, 'run');
  assert.is(await worker.lanes.finish(lane, 0, state), undefined);
}

const clientPrefixOf = (layer: ChannelLayer): string =>
  (layer as unknown as { clientPrefix: string }).clientPrefix;
const lastEvent = (lane: string, order: number): Message => ({ last: lane, order });

/**
 * A holder on `url` with one connected lane, what it hears through onStorageLost,
 * and a worker on the shared server checking for dead holders every 0.2 s.
 */
async function watchedHolder(
  url: string,
  prefix: string,
): Promise<{
  holder: ChannelLayer;
  lost: string[];
  worker: ReturnType<typeof process>;
  lane: string;
}> {
  const holder = createLayer(url, { prefix });
  open.push(holder);
  const lost: string[] = [];
  holder.onStorageLost((host) => lost.push(host));
  const worker = process(prefix, { laneGap: 0.2 });
  const [lane] = await holderLanes(holder, 1);
  await connected(holder, worker.layer, lane!, { user: 1 });
  worker.layer.lanes.reapOrphans(lastEvent, 0.2);
  return { holder, lost, worker, lane: lane! };
}

rescue(
  'a holder that dies: each of its open lanes gets its last event, after what it holds; a live holder is left alone',
  async () => {
    const prefix = testPrefix();
    const dead = process(prefix); // two interface servers
    const alive = process(prefix);
    const { logger, lines } = captureLogs();
    const worker = process(prefix, { laneGap: 0.2, logger });
    const [idle, busy, closed] = await holderLanes(dead.layer, 3);
    const [other] = await holderLanes(alive.layer, 1);
    for (const lane of [idle!, busy!, closed!])
      await connected(dead.layer, worker.layer, lane, { user: lane });
    await connected(alive.layer, worker.layer, other!, { user: other });
    await dead.layer.lanes.announce(busy!, 1, { e: 1 }); // in flight when it died
    await dead.layer.lanes.announce(closed!, 1, { e: 'gone' }); // its socket closed normally
    assert.is((await worker.layer.lanes.claim(closed!, 1, { e: 'gone' })).kind, 'run');
    await worker.layer.lanes.finish(closed!, 1, undefined, { end: true });
    await dead.layer.close(); // as if SIGKILLed: its connections vanish

    worker.layer.lanes.reapOrphans(lastEvent, 0.2);
    const turnOf = (lane: string) =>
      waitFor(() => worker.turns.find((turn) => turn.lane === lane), 15_000, `a turn of ${lane}`);
    assert.equal(await turnOf(idle!), {
      lane: idle!,
      order: 1,
      event: lastEvent(idle!, 1),
      state: { user: idle! },
    });
    assert.is(await worker.layer.lanes.finish(idle!, 1, undefined, { end: true }), undefined);
    const inFlight = (await turnOf(busy!))!;
    assert.equal([inFlight.order, inFlight.event], [1, { e: 1 }], 'what it held runs first');
    const last = await worker.layer.lanes.finish(busy!, 1, { user: busy! });
    assert.equal(last, {
      lane: busy!,
      order: 2,
      event: lastEvent(busy!, 2),
      state: { user: busy! },
    });
    assert.is(await worker.layer.lanes.finish(busy!, 2, undefined, { end: true }), undefined);

    // More checks: nothing else is ended, and the dead holder, with nothing left
    // open, is forgotten; its mark stays, for it to find should it come back.
    const client = rawClient(server.url);
    try {
      await waitFor(
        async () =>
          (await client.smembers(`${prefix}gredis:holders`)).join() === clientPrefixOf(alive.layer),
        15_000,
        'the dead holder to be forgotten',
      );
      assert.is(await client.exists(`${prefix}gredis:reaped:${clientPrefixOf(dead.layer)}`), 1);
      assert.is(await client.exists(`${prefix}gredis:reaped:${clientPrefixOf(alive.layer)}`), 0);
    } finally {
      client.disconnect();
    }
    assert.equal(worker.turns.map((turn) => turn.lane).sort(), [idle!, busy!].sort());
    assert.is((await worker.layer.lanes.claim(other!, 1, { e: 1 })).kind, 'run');
    // Said once, though the checks went on until it was forgotten: a later reap
    // plans nothing for lanes whose last event is planned already.
    const reaps = lines.filter((line) => line.msg.startsWith('a process holding sockets is gone'));
    assert.equal(
      reaps.map((line) => line.lanes),
      [2],
    );
    // A planned last event is no lost one, nor the deposit nobody claimed (busy's
    // 1): that ran late.
    assert.equal(
      takeovers(lines).map((line) => [line.lane, line.order, line.msg]),
      [
        [
          busy!,
          1,
          "ran a socket's event from its lane: its copy on the channel was not taken in time",
        ],
      ],
    );
  },
);

rescue(
  "a reaper gone before its rescue ran a dead holder's parked last events: the next reaper runs them",
  async () => {
    const prefix = testPrefix();
    const dead = process(prefix);
    // Without a rescue handler, as a reaper that dies (or stops) before its rescue
    // runs what it parked: the gap is 5 s in production, a worker restart less.
    const first = createLayer(server.url, { prefix, ...QUICK, laneGap: 0.2 });
    open.push(first);
    const [lane] = await holderLanes(dead.layer, 1);
    await connected(dead.layer, first, lane!, { user: 1 });
    await dead.layer.close(); // as if SIGKILLed
    first.lanes.reapOrphans(lastEvent, 0.2);
    await lastEventParked(prefix, lane!, 1);
    await first.close();
    const worker = process(prefix, { laneGap: 0.2 });
    worker.layer.lanes.reapOrphans(lastEvent, 0.2);
    const turn = await waitFor(() => worker.turns[0], 15_000, 'the parked last event to run');
    assert.equal(turn, { lane: lane!, order: 1, event: lastEvent(lane!, 1), state: { user: 1 } });
  },
);

rescue(
  "a dead holder's own event run in its last event's place: the lane still gets a last event, after it",
  async () => {
    const prefix = testPrefix();
    const dead = process(prefix);
    const worker = process(prefix, { laneGap: 3 });
    const [lane] = await holderLanes(dead.layer, 1);
    await connected(dead.layer, worker.layer, lane!, { user: 1 });
    // It dies having sent event 1 without its deposit (encrypted or sharded, the
    // send goes first; or the deposit failed): the copy waits in the channel.
    await dead.layer.close();
    worker.layer.lanes.reapOrphans(lastEvent, 0.2);
    await lastEventParked(prefix, lane!, 1);
    // A worker takes event 1 from the channel before the rescue runs the last
    // event (3 s): it runs at order 1, in the last event's place.
    assert.is((await worker.layer.lanes.claim(lane!, 1, { e: 1 })).kind, 'run');
    assert.is(await worker.layer.lanes.finish(lane!, 1, { user: 1 }), undefined);
    const turn = await waitFor(() => worker.turns[0], 15_000, 'a last event after it');
    assert.equal(turn, { lane: lane!, order: 2, event: lastEvent(lane!, 2), state: { user: 1 } });
  },
);

rescue(
  "a worker that dies running a dead holder's last event: the next reaper plans another",
  async () => {
    const prefix = testPrefix();
    const dead = process(prefix);
    const first = process(prefix, { laneGap: 0.2 }); // runs the last event, never finishes it
    const [lane] = await holderLanes(dead.layer, 1);
    await connected(dead.layer, first.layer, lane!, { user: 1 });
    await dead.layer.close();
    first.layer.lanes.reapOrphans(lastEvent, 0.2);
    const running = await waitFor(() => first.turns[0], 15_000, 'the last event to run');
    assert.is(running.order, 1);
    await first.layer.close(); // as if SIGKILLed while running it
    const worker = process(prefix, { laneGap: 0.2 });
    worker.layer.lanes.reapOrphans(lastEvent, 0.2);
    const turn = await waitFor(() => worker.turns[0], 15_000, 'another last event');
    assert.equal([turn.lane, turn.order, turn.event], [lane!, 2, lastEvent(lane!, 2)]);
    assert.is(await worker.layer.lanes.finish(lane!, 2, undefined, { end: true }), undefined);
  },
);

rescue(
  'a holder cut off from Redis for laneHolderMissing and two checks is taken for dead; back, it hears its sockets are gone',
  async () => {
    const prefix = testPrefix();
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: server.port });
    try {
      const { holder, lost, worker, lane } = await watchedHolder(
        `redis://127.0.0.1:${proxy.port}/0`,
        prefix,
      );
      await sleep(800);
      assert.equal(worker.turns, [], 'connected, it is left alone');

      proxy.cut();
      const stopClaiming = keepClaiming(worker.layer); // checks run while it works
      const turn = await waitFor(() => worker.turns[0], 15_000, 'its lane to be ended').finally(
        stopClaiming,
      );
      assert.equal([turn.lane, turn.order, turn.event], [lane, 1, lastEvent(lane, 1)]);
      await worker.layer.lanes.finish(lane, 1, undefined, { end: true });
      assert.equal(lost, []);

      await proxy.restore();
      await waitFor(() => lost.length > 0, 10_000, 'the holder to hear of it');
      assert.equal(lost, [`redis://127.0.0.1:${proxy.port}/0`]);
      const client = rawClient(server.url);
      try {
        assert.is(await client.exists(`${prefix}gredis:reaped:${clientPrefixOf(holder)}`), 0);
      } finally {
        client.disconnect();
      }
    } finally {
      proxy.stop();
    }
  },
);

rescue(
  'a finish that landed but lost its reply (the connection cut) still hands over the next event, at once',
  async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: server.port });
    try {
      const { logger, lines } = captureLogs('info');
      const layer = createLayer(`redis://127.0.0.1:${proxy.port}/0`, {
        prefix: testPrefix(),
        logger,
      });
      open.push(layer);
      // Scripts loaded: the cut finish goes out as an EVALSHA naming it.
      await layer.lanes.claim('warm', 0, {});
      await layer.lanes.finish('warm', 0, undefined);
      assert.is((await layer.lanes.claim('cut', 0, { e: 0 })).kind, 'run');
      assert.is((await layer.lanes.claim('cut', 1, { e: 1 })).kind, 'parked');
      const landed = proxy.cutAfter((chunk) => {
        const text = chunk.toString('latin1');
        return text.includes(LANE_FINISH.sha) && text.includes('cut');
      });
      const finished = layer.lanes.finish('cut', 0, { user: 1 });
      await landed;
      await sleep(1500); // ioredis gives the call up (LayerUnavailable): retried
      await proxy.restore();
      const next = await within(finished, 5000, 'the finish');
      assert.equal(next, { lane: 'cut', order: 1, event: { e: 1 }, state: { user: 1 } });
      assert.is(await layer.lanes.finish('cut', 1, { user: 1 }), undefined);
      assert.equal(
        lines.map((line) => line.msg).filter((msg) => msg.includes('turn')),
        [],
        'no turn reported lost or over',
      );
    } finally {
      proxy.stop();
    }
  },
);

rescue(
  'a claim cut off by a silence longer than replyTimeout, that landed when Redis resumed, runs its event then: the lane is not held until the lease',
  async () => {
    const layer = createLayer(server.url, { prefix: testPrefix(), replyTimeout: 1 });
    open.push(layer);
    await layer.lanes.claim('warm', 0, {}); // scripts loaded: the claim goes out as one EVALSHA
    await layer.lanes.finish('warm', 0, undefined);
    server.pause(); // its machine stopped: the claim waits, unread, in its socket
    let claimed: Promise<unknown>;
    try {
      claimed = layer.lanes.claim('silent', 0, { e: 0 }).catch((error: unknown) => error);
      // Past replyTimeout: the layer drops the connection (the call was sent).
      await waitFor(() => !layer.health().ok, 10_000, 'the layer to give up on the server');
    } finally {
      server.resume(); // it reads the claim now, and runs it
    }
    const claim = await within(claimed, 10_000, 'the claim');
    assert.equal(claim, { kind: 'run', state: undefined });
    assert.is(await layer.lanes.finish('silent', 0, { user: 1 }), undefined);
    assert.equal(await layer.lanes.claim('silent', 1, { e: 1 }), {
      kind: 'run',
      state: { user: 1 },
    });
  },
);

rescue(
  'a reaper checks for dead holders only while it claims turns: idle, it issues no commands',
  async () => {
    const prefix = testPrefix();
    const dead = process(prefix);
    const worker = process(prefix, { laneGap: 0.2 });
    const [lane] = await holderLanes(dead.layer, 1);
    await connected(dead.layer, worker.layer, lane!, { user: 1 });
    worker.layer.lanes.reapOrphans(lastEvent, 0.2);
    await sleep(1000); // its check at start, and those its claims brought, are over
    const client = rawClient(server.url);
    try {
      const before = await commandCalls(client);
      await sleep(1500);
      assert.is(await commandCalls(client), before, 'no Redis commands while idle');

      await dead.layer.close(); // as if SIGKILLed
      // Past the 1 s a holder must be missing, and the 0.2 s gap before the
      // rescue runs its last event: were it looking, it would have run by 1.6 s.
      await sleep(3000);
      assert.equal(worker.turns, [], 'idle, it has not looked');
      const stopClaiming = keepClaiming(worker.layer);
      const turn = await waitFor(() => worker.turns[0], 15_000, 'its lane to be ended').finally(
        stopClaiming,
      );
      assert.equal([turn.lane, turn.order, turn.event], [lane!, 1, lastEvent(lane!, 1)]);
    } finally {
      client.disconnect();
    }
  },
);

rescue(
  'a live holder whose connection cannot be named (CLIENT SETNAME refused) is not registered, so never taken for dead',
  () =>
    withAclUser(
      ['~*', '&*', '+@all', '-client|setname'],
      async (user) => {
        const prefix = testPrefix();
        const { lost, worker, lane } = await watchedHolder(user.url(), prefix);
        await sleep(3000); // past the 1 s a holder must be missing, and the rescue
        assert.equal(worker.turns, [], 'its live socket is not ended');
        assert.equal(await user.admin.smembers(`${prefix}gredis:holders`), []);
        assert.is((await worker.layer.lanes.claim(lane, 1, { e: 1 })).kind, 'run');
        assert.equal(lost, []);
      },
      server,
    ),
);

rescue(
  'one process reaps a holder at a time: the mark of a live one is left to it, that of a dead one taken over',
  async () => {
    const prefix = testPrefix();
    const dead = process(prefix);
    const reaping = process(prefix); // reaping that holder already, as far as the mark says
    const worker = process(prefix, { laneGap: 0.2 });
    const [lane] = await holderLanes(dead.layer, 1);
    await connected(dead.layer, worker.layer, lane!, { user: 1 });
    await dead.layer.close();
    const client = rawClient(server.url);
    try {
      const mark = `${prefix}gredis:reaped:${clientPrefixOf(dead.layer)}`;
      await client.set(mark, clientPrefixOf(reaping.layer));
      worker.layer.lanes.reapOrphans(lastEvent, 0.2);
      await sleep(3000); // past the 1 s a holder must be missing, and the rescue
      assert.equal(worker.turns, [], 'left to the live reaper');
      await reaping.layer.close();
      const turn = await waitFor(() => worker.turns[0], 15_000, 'the lane to be ended');
      assert.equal([turn.lane, turn.order], [lane!, 1]);
      assert.is(await client.get(mark), clientPrefixOf(worker.layer));
    } finally {
      client.disconnect();
    }
  },
);

rescue(
  'a turn a stopping worker hands back stays in its lane however many events wait there: a rescue runs it, not the one after it',
  async () => {
    const prefix = testPrefix();
    const stopping = process(prefix, { laneLease: 2, laneGap: 0.5 });
    const { lanes } = stopping.layer;
    await lanes.claim('back', 0, { e: 0 });
    // A flood behind a running turn: its claims park past MAX_WAITING_EVENTS.
    for (let order = 1; order <= MAX_WAITING_EVENTS + 1; order++)
      assert.is((await lanes.claim('back', order, { e: order })).kind, 'parked');
    const next = await lanes.finish('back', 0, { s: 1 });
    assert.is(next?.order, 1);
    await lanes.handBack(next!, 'back.events');
    // Its copy waits at the end of its channel, behind the flood's other
    // events (left unread here): the lane itself must hold it, or the rescue
    // that takes the lane skips it as lost and its late copy is dropped as stale.
    const turn = await waitFor(() => stopping.turns[0], 8000, 'the rescue');
    assert.equal([turn.order, turn.event], [1, { e: 1 }], 'the event handed back runs');
    assert.is(
      (await lanes.claim('back', 1, { e: 1 })).kind,
      'stale',
      'its copy, when it comes, is not run again',
    );
  },
);

rescue(
  'an event announced at MAX_WAITING_EVENTS (not deposited) is not skipped by a rescue while its channel copy may still come',
  async () => {
    const prefix = testPrefix();
    const thyme = process(prefix, { laneGap: 0.5, capacity: 1000 });
    const worker = process(prefix, { laneGap: 0.5, capacity: 1000 });
    const { lanes } = worker.layer;
    const send = (order: number) =>
      thyme.layer.lanes.announceAndSend('flood', order, { e: order }, 'flood.events');
    // A flood: the socket's events come faster than the workers take them.
    await lanes.claim('flood', 0, { e: 0 });
    const atBound = MAX_WAITING_EVENTS + 1;
    for (let order = 1; order <= atBound; order++) await send(order);
    // The workers run the deposits, up to the one before the bound's.
    let next = await lanes.finish('flood', 0, { s: 1 });
    while (next) next = await lanes.finish('flood', next.order, { s: 1 });
    // The lane waits for `atBound`, whose copy is still queued behind the
    // backlog; the next event is deposited, and claimed, first.
    await send(atBound + 1);
    assert.is((await lanes.claim('flood', atBound + 1, { e: atBound + 1 })).kind, 'parked');
    await sleep(2500); // past the gap, rescue checks every 0.5 s
    assert.equal(
      [...worker.turns, ...thyme.turns],
      [],
      'the event still on its channel is not skipped',
    );
    // Its copy comes: it runs, then the one after it.
    assert.is((await lanes.claim('flood', atBound, { e: atBound })).kind, 'run');
    assert.is((await lanes.finish('flood', atBound, { s: 1 }))?.order, atBound + 1);
  },
);

rescue.run();
