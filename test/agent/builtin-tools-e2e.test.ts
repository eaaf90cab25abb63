/**
 * The tool loop with NO language model configured: the built-in model routes a message to a
 * real plugin's tool by its examples, the tool runs in the plugin's thread, and the built-in
 * model answers with its result; a message missing the order number gets a question, and the
 * next message of the conversation completes the call (the pending call read from the store).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { LogCapture, pluginProject, postJson, testConfig } from '../support/index.js';

interface Answer {
  id: string;
  reply: { text: string; data: Record<string, unknown> };
}

describe('the built-in model calling a plugin tool through a running Pincer', () => {
  let pincer: Pincer;
  let url: string;
  let cleanup: () => void;
  const send = async (text: string, conversationId: string, sender = 'api:alice'): Promise<Answer> => {
    const answer = await postJson(`${url}/v1/messages?wait=20`, { text, conversationId, sender });
    expect(answer.status).toBe(200);
    return answer.body as unknown as Answer;
  };

  beforeAll(async () => {
    const project = pluginProject(['order-desk']);
    cleanup = project.cleanup;
    pincer = await Pincer.create({ config: testConfig(project.root, { PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_ENABLED: 'order-desk' }), logDestination: new LogCapture(), env: {} });
    url = await pincer.start();
  });
  afterAll(async () => {
    await pincer?.close();
    cleanup?.();
  });

  it('runs the tool a message asks for and answers with its result', async () => {
    const { id, reply } = await send('can you track order 55012 for me?', 'e2e-direct');
    expect(reply.text).toBe('Order 55012 shipped on Monday.');
    expect(reply.data).toMatchObject({ model: 'local/intents', stopReason: 'done', intent: 'tool_result', steps: [{ tool: 'order_status', ok: true, ms: expect.any(Number) }] });
    expect(id).toEqual(expect.any(String));
  });

  it('asks for the missing order number, and the next message completes the call', async () => {
    const question = await send('where is my package', 'e2e-follow-up');
    expect(question.reply.text).toBe('To do that I need the order number, e.g. A-1042. What is it?');
    expect(question.reply.data).toMatchObject({ steps: [], stopReason: 'done', pendingTool: { tool: 'order_status', arguments: {}, missing: ['order_id'] } });
    const answer = await send("it's b-7781", 'e2e-follow-up');
    expect(answer.reply.text).toBe('Order B-7781 shipped on Monday.');
    expect(answer.reply.data['steps']).toEqual([{ tool: 'order_status', ok: true, ms: expect.any(Number) }]);
    expect(answer.reply.data['pendingTool']).toBeUndefined();
  });

  it('does not take another sender\'s message as the answer to a question', async () => {
    await send('track my package', 'e2e-group', 'api:alice');
    const other = await send('12345', 'e2e-group', 'api:bob');
    expect(other.reply.data['steps']).toEqual([]);
    expect(other.reply.data['intent']).toBe('unknown');
  });

  it('answers chit-chat as before, calling nothing', async () => {
    const { reply } = await send('hello there', 'e2e-chat');
    expect(reply.text).toMatch(/^(Hello|Hi there)/);
    expect(reply.data).toMatchObject({ intent: 'greeting', steps: [], stopReason: 'done' });
    expect(reply.data['warnings']).toBeUndefined();
  });
});
