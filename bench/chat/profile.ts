/**
 * `--profile`: V8's sampling profiler in every Node server process during the
 * timed window only (started and stopped through each process's inspector), the
 * profiles saved as .cpuprofile files (open them in Chrome DevTools), and a
 * summary of where the CPU goes per delivered message: top functions by self
 * time, and self time by area (Gredis module, dependency, Node core, GC).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InspectorSession } from '../lib/inspector-session.js';
import { inspectorUrl } from '../lib/inspector.js';
import type { CallFrame, CpuProfile } from '../lib/cpu-profile.js';
import type { ServerProcess } from './deployments.js';

export type { CpuProfile } from '../lib/cpu-profile.js';

export interface Profiled {
  role: string;
  pid: number;
  profile: CpuProfile;
}

/** Sampling interval: 250 µs gives enough samples in a few seconds without much overhead. */
const SAMPLING_INTERVAL_US = 250;

export class Profiling {
  private constructor(
    private readonly sessions: { server: ServerProcess; session: InspectorSession }[],
  ) {}

  static async start(servers: readonly ServerProcess[]): Promise<Profiling> {
    const sessions: { server: ServerProcess; session: InspectorSession }[] = [];
    for (const server of servers) {
      if (!server.started?.inspector) continue;
      const session = await InspectorSession.open(await inspectorUrl(server.started.proc));
      await session.call('Profiler.enable');
      await session.call('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
      sessions.push({ server, session });
    }
    await Promise.all(sessions.map(({ session }) => session.call('Profiler.start')));
    return new Profiling(sessions);
  }

  async stop(): Promise<Profiled[]> {
    const profiles = await Promise.all(
      this.sessions.map(async ({ server, session }) => {
        const { profile } = await session.call<{ profile: CpuProfile }>('Profiler.stop');
        session.close();
        return { role: server.role, pid: server.pid, profile };
      }),
    );
    return profiles;
  }
}

export function saveProfiles(dir: string, system: string, profiles: readonly Profiled[]): string[] {
  return profiles.map(({ role, pid, profile }) => {
    const file = join(dir, `${system}-${role.replace(/\W+/g, '_')}-${pid}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return file;
  });
}

/** Where a function's code lives, for the by-area summary. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return '(program): native, unattributed';
    return `native: ${functionName}`;
  }
  if (url.startsWith('node:')) {
    const module = url.slice('node:'.length).replace(/^internal\//, '');
    return `Node core: ${module.split('/')[0]}`;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/(src\/[^/]+|bench\/[^/]+)/.exec(url);
  if (own) return `gredis ${own[1]!.replace(/\.js$/, '')}`;
  return url;
}

function shortUrl(url: string): string {
  return url
    .replace(/^file:\/\/.*?\/node_modules\//, '')
    .replace(/^file:\/\/.*?\/dist\//, '')
    .replace(/^node:/, '');
}

export interface FunctionCost {
  name: string;
  area: string;
  /** Microseconds of CPU per delivered message. */
  selfUs: number;
  totalUs: number;
  /** Share of the role's busy (non-idle) samples. */
  selfShare: number;
}

export interface RoleSummary {
  role: string;
  processes: number;
  /** The role's CPU per delivery, µs, from /proc: what the shares below divide. */
  cpuUs: number;
  /** Busy (non-idle) samples of the profiles, as wall-clock seconds. */
  busySeconds: number;
  top: FunctionCost[];
  areas: { area: string; selfUs: number; share: number }[];
}

/**
 * Self and inclusive time per function and self time per area, for each role, per
 * delivery. The profiler samples wall-clock time: a thread the kernel has
 * descheduled (a loaded machine) still collects samples in whatever it was doing.
 * So the profile gives each function's *share* of the role's busy samples, and
 * the microseconds are that share of the role's CPU time per delivery as /proc
 * counted it (`cpuUsPerDelivery`, by role).
 */
export function summarise(
  profiles: readonly Profiled[],
  cpuUsPerDelivery: Record<string, number>,
  topN = 25,
): RoleSummary[] {
  const roles = [...new Set(profiles.map((p) => p.role))];
  return roles.map((role) => {
    const self = new Map<string, { area: string; us: number }>();
    const total = new Map<string, number>();
    const areas = new Map<string, number>();
    let busy = 0;
    const mine = profiles.filter((p) => p.role === role);
    for (const { profile } of mine) {
      const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
      const hits = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
      const usPerHit = hits === 0 ? 0 : (profile.endTime - profile.startTime) / hits;
      const key = (frame: CallFrame): string =>
        `${frame.functionName || '(anonymous)'} ${frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : ''}`.trim();
      // Inclusive time: a node's hits plus its descendants', counted once per
      // function even when it recurses (an ancestor with the same key already has it).
      const walk = (id: number, onPath: Set<string>): number => {
        const node = nodes.get(id)!;
        const k = key(node.callFrame);
        const added = !onPath.has(k);
        if (added) onPath.add(k);
        let inclusive = (node.hitCount ?? 0) * usPerHit;
        for (const child of node.children ?? []) inclusive += walk(child, onPath);
        if (added) {
          onPath.delete(k);
          total.set(k, (total.get(k) ?? 0) + inclusive);
        }
        const selfUs = (node.hitCount ?? 0) * usPerHit;
        if (selfUs > 0) {
          const area = areaOf(node.callFrame);
          const entry = self.get(k) ?? { area, us: 0 };
          entry.us += selfUs;
          self.set(k, entry);
          areas.set(area, (areas.get(area) ?? 0) + selfUs);
          if (area !== 'idle') busy += selfUs;
        }
        return inclusive;
      };
      const root = profile.nodes[0];
      if (root) walk(root.id, new Set());
    }
    const cpu = cpuUsPerDelivery[role] ?? 0;
    const per = (us: number): number => (busy === 0 ? 0 : (us / busy) * cpu);
    const top = [...self.entries()]
      .filter(([, v]) => v.area !== 'idle')
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, topN)
      .map(([name, v]) => ({
        name,
        area: v.area,
        selfUs: per(v.us),
        totalUs: per(total.get(name) ?? 0),
        selfShare: v.us / busy,
      }));
    return {
      role,
      processes: mine.length,
      cpuUs: cpu,
      busySeconds: busy / 1e6,
      top,
      areas: [...areas.entries()]
        .filter(([area]) => area !== 'idle')
        .sort((a, b) => b[1] - a[1])
        .map(([area, us]) => ({ area, selfUs: per(us), share: us / busy })),
    };
  });
}
