import { logFailure, type Logger } from '../logger.js';
import { isTransientLayerError } from './errors.js';
import type { ChannelLayer, LaneEffect } from './types.js';

/** What applying effects one by one needs of a layer. */
export type EffectTarget = Pick<ChannelLayer, 'send' | 'groupAdd' | 'groupDiscard' | 'groupSend'>;

/**
 * Applies a turn's effects one by one, in order, each awaited before the next;
 * the first failure stops the rest and is thrown. The path for layers and
 * set-ups where effects cannot go in one script with the turn's finish.
 */
export async function applyEffects(
  layer: EffectTarget,
  effects: readonly LaneEffect[],
): Promise<void> {
  for (const effect of effects) {
    switch (effect.kind) {
      case 'send':
        await layer.send(effect.channel, effect.message);
        break;
      case 'groupAdd':
        await layer.groupAdd(effect.group, effect.channel);
        break;
      case 'groupDiscard':
        await layer.groupDiscard(effect.group, effect.channel);
        break;
      case 'groupSend':
        await layer.groupSend(effect.group, effect.message);
        break;
    }
  }
}

/** The one log line for an effect that failed: the turn still ends. */
export function logEffectFailure(logger: Logger, lane: string, error: unknown): void {
  // A full or unreachable layer fails the effects of many sockets at once.
  logFailure(
    logger,
    error,
    { lane },
    'an effect of a lane turn failed; the effects after it were dropped',
    { expected: isTransientLayerError(error) },
  );
}
