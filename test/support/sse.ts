/** One server-sent event as a client reads it. */
export interface SseEvent {
  event: string;
  data: any;
}

/**
 * Reads a text/event-stream to its end. `onEvent` sees each event as it arrives (to act while
 * the stream is open); comments (`: keep-alive`) are skipped; `data: [DONE]` comes as event
 * 'message' with data '[DONE]'.
 */
export async function readSse(response: Response, onEvent: (event: SseEvent) => void = () => {}): Promise<SseEvent[]> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const lines = block.split('\n').filter((l) => !l.startsWith(':'));
      if (lines.length === 0) continue;
      const name = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const raw = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      let data: unknown = raw;
      try {
        data = JSON.parse(raw);
      } catch {
        // Not JSON ([DONE]): kept as text.
      }
      const event = { event: name, data };
      events.push(event);
      onEvent(event);
    }
  }
  return events;
}

/** The text of an OpenAI chat-completion stream's chunks, and how it ended. */
export function completionText(events: SseEvent[]): { text: string; error?: { code: string; message: string }; done: boolean } {
  let text = '';
  let error: { code: string; message: string } | undefined;
  for (const e of events) {
    if (e.data === '[DONE]') continue;
    if (e.data?.error) error = e.data.error;
    for (const choice of e.data?.choices ?? []) text += choice.delta?.content ?? '';
  }
  return { text, ...(error ? { error } : {}), done: events.some((e) => e.data === '[DONE]') };
}
