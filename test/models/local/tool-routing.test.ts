import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../../src/json.js';
import { LocalModel } from '../../../src/models/local/local-model.js';
import type { ChatMessage, GenerateRequest, StreamPart } from '../../../src/models/types.js';
import { TOOLS } from '../../fixtures/local-tools/tools.js';

const model = new LocalModel({ botName: 'Testbot', version: '9.9.9' });
const user = (content: string): ChatMessage => ({ role: 'user', content });
const ask = (content: string, pending?: JsonObject, extra: Partial<GenerateRequest> = {}) =>
  model.doGenerate({ messages: [user(content)], tools: TOOLS, toolChoice: 'auto', temperature: 0, providerOptions: { local: { analysis: {}, ...(pending ? { pending } : {}) } }, ...extra });
const call = async (content: string, pending?: JsonObject) => {
  const result = await ask(content, pending);
  expect(result.finishReason).toBe('tool-calls');
  expect(result.toolCalls).toHaveLength(1);
  const [toolCall] = result.toolCalls ?? [];
  return { name: toolCall?.name, args: JSON.parse(toolCall?.arguments ?? 'null') as unknown, result };
};

describe('the built-in model with tools', () => {
  it('calls the tool a message asks for, its slots filled in their parameters\' types', async () => {
    expect(await call("Where's my order a-1042?")).toMatchObject({ name: 'order_status', args: { order_id: 'A-1042' } });
    expect(await call('please remind me in 15 minutes to water the plants')).toMatchObject({ name: 'set_reminder', args: { minutes: 15, text: 'water the plants' } });
    expect(await call('switch off the living room lights')).toMatchObject({ name: 'lights', args: { on: false, room: 'living room' } });
    expect(await call('how much is 19.99 EUR in USD')).toMatchObject({ name: 'convert_currency', args: { amount: 19.99, from: 'EUR', to: 'USD' } });
    expect(await call('open a high priority ticket about the printer on floor 3')).toMatchObject({ name: 'open_ticket', args: { priority: 'high', summary: 'printer on floor 3' } });
    const { result } = await call('weather in Lisbon');
    expect(result.text).toBe('');
    expect(result.data).toMatchObject({ intent: 'tool:weather', model: 'local/intents' });
    expect(result.warnings).toBeUndefined();
  });

  it('answers out-of-scope messages exactly as it does without tools', async () => {
    for (const text of ['hello there', 'thank you!', 'What is the capital of France?', 'where is my wallet', 'the lights in Paris are beautiful']) {
      const withTools = await ask(text);
      const without = await model.doGenerate({ messages: [user(text)], temperature: 0, providerOptions: { local: { analysis: {} } } });
      expect({ text, finish: withTools.finishReason, toolCalls: withTools.toolCalls }).toEqual({ text, finish: 'stop', toolCalls: undefined });
      expect(withTools.text).toBe(without.text);
      expect(withTools.data).toEqual(without.data);
    }
  });

  it('asks for a missing required argument, and the follow-up completes the call', async () => {
    const question = await ask('where is my package');
    expect(question.finishReason).toBe('stop');
    expect(question.toolCalls).toBeUndefined();
    expect(question.text).toBe('To do that I need the order number, e.g. A-1042. What is it?');
    const pending = question.data?.pendingTool as JsonObject;
    expect(pending).toEqual({ tool: 'order_status', arguments: {}, missing: ['order_id'] });
    expect(await call("it's 12345", pending)).toMatchObject({ name: 'order_status', args: { order_id: '12345' } });
  });

  it('keeps what it has and asks again for what the follow-up did not give', async () => {
    const first = await ask('please open a ticket about the broken coffee machine');
    expect(first.data?.pendingTool).toEqual({ tool: 'open_ticket', arguments: { summary: 'broken coffee machine' }, missing: ['priority'] });
    expect(first.text).toContain('the priority: low, normal or high');
    const again = await ask('hmm, not sure', first.data?.pendingTool as JsonObject);
    expect(again.data?.pendingTool).toEqual(first.data?.pendingTool);
    expect(await call('make it high', again.data?.pendingTool as JsonObject)).toMatchObject({ name: 'open_ticket', args: { summary: 'broken coffee machine', priority: 'high' } });
  });

  it('leaves a pending call for a new request, or for chit-chat it understands', async () => {
    const pending = { tool: 'order_status', arguments: {}, missing: ['order_id'] };
    expect(await call('what is the weather in Oslo', pending)).toMatchObject({ name: 'weather', args: { city: 'Oslo' } });
    const thanks = await ask('thanks a lot', pending);
    expect(thanks.data).toMatchObject({ intent: 'thanks' });
    expect(thanks.data?.pendingTool).toBeUndefined();
    // A pending call for a tool no longer offered is ignored.
    const gone = await ask('12345', { tool: 'removed_tool', arguments: {}, missing: ['x'] });
    expect(gone.data).toMatchObject({ intent: 'unknown' });
  });

  it('makes the reply of a tool result: its text, message or answer field, a string as it is, else JSON, an error said plainly', async () => {
    const after = (content: string) =>
      model.doGenerate({
        messages: [user('weather in Oslo'), { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'weather', arguments: '{"city":"Oslo"}' }] }, { role: 'tool', content, toolCallId: 'c1', toolName: 'weather' }],
        tools: TOOLS,
      });
    expect((await after('{"text":"Sunny, 21 °C","city":"Oslo"}')).text).toBe('Sunny, 21 °C');
    expect((await after('{"answer":"Rain later"}')).text).toBe('Rain later');
    expect((await after('Cloudy')).text).toBe('Cloudy');
    expect((await after('{"temp":12}')).text).toBe('{"temp":12}');
    expect((await after('{"error":{"code":"tool_failed","message":"weather failed: no such city"}}')).text).toBe('I could not do that: weather failed: no such city');
    const rendered = await after('{"message":"Windy"}');
    expect(rendered).toMatchObject({ text: 'Windy', finishReason: 'stop', data: { intent: 'tool_result' } });
    expect(rendered.toolCalls).toBeUndefined();
  });

  it('streams a call as a tool-call part and a tool-calls finish', async () => {
    const parts: StreamPart[] = [];
    for await (const part of model.doStream({ messages: [user('track order 88123')], tools: TOOLS })) parts.push(part);
    expect(parts.map((p) => p.type)).toEqual(['tool-call', 'finish']);
    expect(parts[0]).toMatchObject({ type: 'tool-call', toolCall: { name: 'order_status', arguments: '{"order_id":"88123"}', id: expect.stringMatching(/^local-/) } });
    expect(parts[1]).toMatchObject({ type: 'finish', finishReason: 'tool-calls' });
  });

  it('calls no tool with toolChoice none, and warns when no offered tool has examples', async () => {
    const none = await ask('track order 88123', undefined, { toolChoice: 'none' });
    expect(none.toolCalls).toBeUndefined();
    const bare = await model.doGenerate({ messages: [user('track order 88123')], tools: [{ name: 'lookup', parameters: { type: 'object' } }] });
    expect(bare.toolCalls).toBeUndefined();
    expect(bare.warnings).toEqual([{ type: 'unsupported-setting', setting: 'tools', details: expect.stringContaining('examples') }]);
  });
});
