import type { Command } from 'commander';
import { PincerError } from '../../errors.js';
import { ApiClient, type ClientOptions } from '../client.js';
import { print } from '../output.js';

interface MessageView {
  id: string;
  conversationId: string;
  status: string;
  reply?: { text: string } | null;
  lastError?: string | null;
}

export function sendCommand(program: Command, globals: () => ClientOptions & { json?: boolean }): void {
  program
    .command('send')
    .description('send a message to a running Pincer')
    .argument('<text>', 'the message text')
    .option('-w, --wait [seconds]', 'wait for the reply (default 30 s)')
    .option('-c, --conversation <id>', 'conversation id (keeps order and history)')
    .option('-p, --priority <priority>', 'high | normal | low', 'normal')
    .option('-k, --idempotency-key <key>', 'send at most once under this key')
    .action(async (text: string, opts: { wait?: string | boolean; conversation?: string; priority: string; idempotencyKey?: string }) => {
      const g = globals();
      const client = ApiClient.from(g);
      const wait = opts.wait === undefined ? 0 : opts.wait === true ? 30 : Number(opts.wait);
      if (!Number.isFinite(wait) || wait < 0) throw new PincerError('CLI_USAGE', `--wait must be a number of seconds, got "${String(opts.wait)}"`);
      const headers: Record<string, string> = opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {};
      const { status, body } = await client.call<MessageView>(
        'POST',
        `/v1/messages${wait > 0 ? `?wait=${wait}` : ''}`,
        { text, conversationId: opts.conversation, priority: opts.priority },
        headers,
      );
      print(!!g.json, body, () => {
        if (status === 200 && body.reply) return body.reply.text;
        if (status === 200) return `${body.id}: ${body.status}${body.lastError ? ` (${body.lastError})` : ''}`;
        return `queued ${body.id} (conversation ${body.conversationId})${wait > 0 ? `; no reply within ${wait} s` : ''}`;
      });
      if (wait > 0 && status !== 200) process.exitCode = 2;
    });
}
