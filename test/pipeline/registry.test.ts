import { describe, expect, it } from 'vitest';
import { PipelineRegistry } from '../../src/pipeline/registry.js';
import type { Channel, Tool } from '../../src/pipeline/types.js';

const tool = (name: string, plugin = 'a'): Tool => ({ name, plugin, description: name, parameters: { type: 'object' }, effect: 'read', execute: async () => name });
const unused = (): never => {
  throw new Error('not called');
};
const channel = (name: string, plugin = 'a'): Channel => ({
  name,
  plugin,
  capabilities: { edit: false, typing: false, idempotentSend: 'none', textLimit: 100, transports: ['polling'] },
  methods: new Set(),
  plan: unused,
  send: unused,
  edit: unused,
  typing: unused,
  reconcile: unused,
  webhook: unused,
  connect: unused,
  poll: unused,
});

describe('registry tools', () => {
  it('puts a tool in the snapshot', () => {
    const registry = new PipelineRegistry();
    registry.addTool(tool('lookup'));
    expect([...registry.snapshot().tools.keys()]).toEqual(['lookup']);
  });

  it('refuses a second tool of the same name, naming the holder', () => {
    const registry = new PipelineRegistry();
    registry.addTool(tool('lookup', 'first'));
    expect(() => registry.addTool(tool('lookup', 'second'))).toThrow(expect.objectContaining({ code: 'PIPELINE_DUPLICATE_TOOL', message: expect.stringContaining('plugin first') }));
  });

  it('refuses a tool name a model vendor would not accept', () => {
    expect(() => new PipelineRegistry().addTool(tool('look up'))).toThrow(expect.objectContaining({ code: 'PIPELINE_BAD_TOOL_NAME' }));
  });

  describe('examples', () => {
    const withExamples = (examples: unknown[]): Tool => ({
      ...tool('order_status'),
      parameters: { type: 'object', properties: { order_id: { type: 'string' }, when: { type: 'string' } } },
      examples: examples as string[],
    });

    it('keeps examples whose slots are parameters', () => {
      const registry = new PipelineRegistry();
      registry.addTool(withExamples(['where is my order {order_id}', 'track {order_id} { when }', 'my orders']));
      expect(registry.tools.get('order_status')?.examples).toEqual(['where is my order {order_id}', 'track {order_id} { when }', 'my orders']);
    });

    it.each([
      [['find order {order}'], '{order} is not a parameter (the parameters are: order_id, when)'],
      [['{order_id}'], 'needs a word besides its slots'],
      [['track {order_id} and {order_id}'], 'the slot {order_id} twice'],
      [['track {order_id'], 'unmatched'],
      [['track {1x}'], 'is not a slot name'],
      [[42], 'examples[0] must be a string'],
      [['x'.repeat(201)], 'longer than 200 characters'],
    ])('refuses %j with PIPELINE_BAD_TOOL_EXAMPLES', (examples, why) => {
      expect(() => new PipelineRegistry().addTool(withExamples(examples))).toThrow(expect.objectContaining({ code: 'PIPELINE_BAD_TOOL_EXAMPLES', message: expect.stringContaining(why) }));
    });
  });

  it('drops exactly the disposed tool, leaving a snapshot taken before intact', () => {
    const registry = new PipelineRegistry();
    const dispose = registry.addTool(tool('lookup'));
    registry.addTool(tool('search'));
    const before = registry.snapshot();
    dispose();
    expect([...registry.tools.keys()]).toEqual(['search']);
    expect([...before.tools.keys()]).toEqual(['lookup', 'search']);
  });
});

describe('registry channels', () => {
  it('puts a channel in the snapshot', () => {
    const registry = new PipelineRegistry();
    registry.addChannel(channel('telegram'));
    expect([...registry.snapshot().channels.keys()]).toEqual(['telegram']);
  });

  it('refuses a second channel of the same name', () => {
    const registry = new PipelineRegistry();
    registry.addChannel(channel('telegram'));
    expect(() => registry.addChannel(channel('telegram', 'b'))).toThrow(expect.objectContaining({ code: 'PIPELINE_DUPLICATE_CHANNEL' }));
  });

  it('refuses a channel name messages could not carry', () => {
    expect(() => new PipelineRegistry().addChannel(channel('Tele Gram'))).toThrow(expect.objectContaining({ code: 'PIPELINE_BAD_CHANNEL_NAME' }));
  });
});
