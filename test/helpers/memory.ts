import { sleep } from './wait.js';

/**
 * Heap and buffers still reachable after full collections (tests run with
 * --expose-gc). External buffers are released by finalizers after a collection,
 * so collect, let them run, and collect again.
 */
export async function retainedBytes(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(50);
  }
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}
