import type { Responder } from '../types.js';

/**
 * What the bot honestly says to free text while no model responder is registered: that it
 * has no language model, what it can do instead, and where connecting one is described.
 */
export function noModelResponder(): Responder {
  return {
    name: 'no-model',
    order: 10_000,
    respond: () => ({
      text:
        'I have no language model configured, so I can only answer commands: send /help to list them. ' +
        'Connecting a model (OpenAI, Anthropic, Gemini, Ollama or a local model) is described in docs/models.md.',
      data: { reason: 'no_model_configured' },
    }),
  };
}
