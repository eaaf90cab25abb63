import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
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
      const prompt = interactive ? 'you> ' : '';
      try {
        while (true) {
          let line: string;
          try {
            line = (await rl.question(prompt)).trim();
          } catch {
            break; // stdin closed
          }
          if (line === '/quit' || line === '/exit') break;
          if (!line) continue;
          try {
            const { status, body } = await client.call<MessageView>('POST', `/v1/messages?wait=${Number(opts.timeout)}`, { text: line, conversationId, channel: 'cli' });
            if (status === 200 && body.reply) console.log(`bot> ${body.reply.text}`);
            else if (status === 200) console.log(`bot! ${body.status}: ${body.lastError ?? 'no reply'}`);
            else console.log(`bot… still working on it (no reply within ${opts.timeout} s)`);
          } catch (err) {
            console.log(`error: ${errorMessage(err)}`);
          }
        }
      } finally {
        rl.close();
      }
    });
}
