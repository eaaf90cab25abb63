import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { errorMessage } from '../../errors.js';
import { ApiClient, type ClientOptions } from '../client.js';

interface MessageView {
  status: string;
  reply?: { text: string } | null;
  lastError?: string | null;
}

/** An interactive session: each line is a message in one conversation; replies print as they land. */
export function chatCommand(program: Command, globals: () => ClientOptions): void {
  program
    .command('chat')
    .description('chat with a running Pincer in the terminal (Ctrl+D or /quit to leave)')
    .option('-c, --conversation <id>', 'continue a conversation')
    .option('--timeout <seconds>', 'how long to wait for each reply', '60')
    .action(async (opts: { conversation?: string; timeout: string }) => {
      const client = ApiClient.from(globals());
      const conversationId = opts.conversation ?? `cli-${randomUUID()}`;
      const interactive = process.stdin.isTTY === true;
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive });
      if (interactive) console.log(`Chatting with ${client.baseUrl} in conversation ${conversationId}. /quit to leave.`);
      // The line iterator buffers input, so lines piped in while a reply is pending are kept.
      rl.setPrompt('you> ');
      if (interactive) rl.prompt();
      try {
        for await (const raw of rl) {
          const line = raw.trim();
          if (line === '/quit' || line === '/exit') break;
          if (line) await exchange(client, conversationId, line, Number(opts.timeout));
          if (interactive) rl.prompt();
        }
      } finally {
        rl.close();
      }
    });
}

async function exchange(client: ApiClient, conversationId: string, text: string, timeout: number): Promise<void> {
  try {
    const { status, body } = await client.call<MessageView>('POST', `/v1/messages?wait=${timeout}`, { text, conversationId, channel: 'cli' });
    if (status === 200 && body.reply) console.log(`bot> ${body.reply.text}`);
    else if (status === 200) console.log(`bot! ${body.status}: ${body.lastError ?? 'no reply'}`);
    else console.log(`bot… still working on it (no reply within ${timeout} s)`);
  } catch (err) {
    console.log(`error: ${errorMessage(err)}`);
  }
}
