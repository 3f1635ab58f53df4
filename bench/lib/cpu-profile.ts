/** The parts of V8's .cpuprofile (the DevTools Profiler.Profile) the benchmarks read. */

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds. */
  startTime: number;
  endTime: number;
  /** Node ids, one per sample, with the time since the previous sample (µs). */
  samples: number[];
  timeDeltas: number[];
}
