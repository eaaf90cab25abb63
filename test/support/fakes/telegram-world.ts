/**
 * The Telegram fake's scripted world and its message methods: users, chats (with forum
 * topics, blocked users, kicked bots), the messages in each chat, and sendMessage,
 * editMessageText, sendChatAction, deleteMessage and answerCallbackQuery with the refusals
 * Telegram gives. A message keeps the inline keyboard it was sent or last edited with.
 */
import { clientEntities, parseHtml, parseMarkdownV2, type FakeEntity, type Parsed } from './telegram-entities.js';
import { checkReplyMarkup, type FakeInlineKeyboard } from './telegram-markup.js';

export interface FakeUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
}

export interface FakeChat {
  id: number;
  type: 'private' | 'group' | 'supergroup' | 'channel';
  title?: string;
  first_name?: string;
  username?: string;
  is_forum?: true;
}

export interface FakeMessage {
  message_id: number;
  date: number;
  chat: FakeChat;
  from?: FakeUser;
  text: string;
  entities?: FakeEntity[];
  message_thread_id?: number;
  is_topic_message?: true;
  reply_to_message?: FakeMessage;
  reply_markup?: FakeInlineKeyboard | Record<string, unknown>;
  edit_date?: number;
}

export type ApiResult =
  | { ok: true; result: unknown; description?: string }
  | { ok: false; error_code: number; description: string; parameters?: { retry_after?: number; migrate_to_chat_id?: number } };

export type Params = Record<string, unknown>;

export const ok = (result: unknown, description?: string): ApiResult => ({ ok: true, result, ...(description !== undefined ? { description } : {}) });
export const refuse = (error_code: number, description: string): ApiResult => ({ ok: false, error_code, description });

const ACTIONS = new Set(['typing', 'upload_photo', 'record_video', 'upload_video', 'record_voice', 'upload_voice', 'upload_document', 'choose_sticker', 'find_location', 'record_video_note', 'upload_video_note']);
/** Telegram's limit, in UTF-16 code units of the text after entity parsing. */
export const MAX_TEXT = 4096;

function int(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
}

export class TelegramWorld {
  readonly users = new Map<number, FakeUser>();
  readonly chats = new Map<number, FakeChat>();
  /** Messages by chat id, then message id. */
  readonly messages = new Map<number, Map<number, FakeMessage>>();
  readonly blocked = new Set<number>();
  readonly kicked = new Set<number>();
  /** Forum topics by chat id. */
  readonly topics = new Map<number, Set<number>>();
  /** Callback query ids not answered yet. */
  readonly openCallbacks = new Set<string>();
  private nextMessageId = new Map<number, number>();

  constructor(
    readonly bot: FakeUser,
    private readonly now: () => number,
  ) {}

  date(): number {
    return Math.floor(this.now() / 1000);
  }

  addUser(user: FakeUser): FakeUser {
    this.users.set(user.id, user);
    return user;
  }

  addChat(chat: FakeChat): FakeChat {
    this.chats.set(chat.id, chat);
    if (!this.messages.has(chat.id)) this.messages.set(chat.id, new Map());
    return chat;
  }

  addTopic(chatId: number, threadId: number): void {
    const set = this.topics.get(chatId) ?? new Set<number>();
    set.add(threadId);
    this.topics.set(chatId, set);
  }

  /** A message in the world (a user's or the bot's), stored so replies and edits can find it. */
  store(fields: Omit<FakeMessage, 'message_id' | 'date'> & { message_id?: number }): FakeMessage {
    const chatId = fields.chat.id;
    const id = fields.message_id ?? (this.nextMessageId.get(chatId) ?? 1);
    this.nextMessageId.set(chatId, Math.max(id, this.nextMessageId.get(chatId) ?? 1) + 1);
    const message: FakeMessage = { ...fields, message_id: id, date: this.date() };
    if (!this.messages.has(chatId)) this.messages.set(chatId, new Map());
    this.messages.get(chatId)!.set(id, message);
    return message;
  }

  /** A message as a user's client would write it, entities included. */
  userMessage(chat: FakeChat, from: FakeUser | undefined, text: string, extra: Partial<FakeMessage> = {}): FakeMessage {
    const entities = extra.entities ?? clientEntities(text);
    return this.store({ chat, ...(from !== undefined ? { from } : {}), text, ...(entities.length > 0 ? { entities } : {}), ...extra });
  }

  /** The chat a call names, or Telegram's refusal. */
  resolveChat(params: Params): FakeChat | ApiResult {
    const raw = params['chat_id'];
    const id = int(raw);
    const chat =
      id !== undefined ? this.chats.get(id) : typeof raw === 'string' && raw.startsWith('@') ? [...this.chats.values()].find((c) => `@${c.username}` === raw) : undefined;
    if (raw === undefined || raw === '') return refuse(400, 'Bad Request: chat_id is empty');
    if (chat === undefined) return refuse(400, 'Bad Request: chat not found');
    if (chat.type === 'private' && this.blocked.has(chat.id)) return refuse(403, 'Forbidden: bot was blocked by the user');
    if (this.kicked.has(chat.id)) return refuse(403, `Forbidden: bot was kicked from the ${chat.type === 'channel' ? 'channel' : 'group'} chat`);
    return chat;
  }

  private parseText(params: Params): Parsed {
    const source = typeof params['text'] === 'string' ? params['text'] : '';
    const mode = params['parse_mode'];
    if (source === '') return { ok: false, description: 'Bad Request: message text is empty' };
    if (mode === 'HTML') return parseHtml(source);
    if (mode === 'MarkdownV2') return parseMarkdownV2(source);
    if (mode === undefined || mode === '' || mode === 'Markdown') return { ok: true, text: source, entities: [] };
    return { ok: false, description: 'Bad Request: unsupported parse_mode' };
  }

  /** The text checks sendMessage and editMessageText share. */
  private checkedText(params: Params): { text: string; entities: FakeEntity[] } | ApiResult {
    const parsed = this.parseText(params);
    if (!parsed.ok) return refuse(400, parsed.description);
    if (parsed.text.length > MAX_TEXT) return refuse(400, 'Bad Request: message is too long');
    if (parsed.text.trim() === '') return refuse(400, 'Bad Request: message text is empty');
    return { text: parsed.text, entities: parsed.entities };
  }

  sendMessage(params: Params, chat: FakeChat): ApiResult {
    const checked = this.checkedText(params);
    if ('ok' in checked) return checked;
    const markup = checkReplyMarkup(params);
    if (!markup.ok) return refuse(400, markup.description);
    const thread = int(params['message_thread_id']);
    if (chat.is_forum === true && thread !== undefined && thread !== 1 && !this.topics.get(chat.id)?.has(thread)) {
      return refuse(400, 'Bad Request: message thread not found');
    }
    const replyParams = (typeof params['reply_parameters'] === 'object' && params['reply_parameters'] !== null ? params['reply_parameters'] : {}) as Params;
    const replyId = int(replyParams['message_id']) ?? int(params['reply_to_message_id']);
    let replyTo: FakeMessage | undefined;
    if (replyId !== undefined) {
      replyTo = this.messages.get(chat.id)?.get(replyId);
      const allow = replyParams['allow_sending_without_reply'] === true || params['allow_sending_without_reply'] === true;
      if (replyTo === undefined && !allow) return refuse(400, 'Bad Request: message to be replied not found');
    }
    const message = this.store({
      chat,
      from: this.bot,
      text: checked.text,
      ...(checked.entities.length > 0 ? { entities: checked.entities } : {}),
      ...(chat.is_forum === true && thread !== undefined ? { message_thread_id: thread, is_topic_message: true as const } : {}),
      ...(replyTo !== undefined ? { reply_to_message: { ...replyTo, reply_to_message: undefined } } : {}),
      ...(markup.markup !== undefined ? { reply_markup: markup.markup } : {}),
    });
    return ok(message);
  }

  editMessageText(params: Params, chat: FakeChat): ApiResult {
    const id = int(params['message_id']);
    const message = id === undefined ? undefined : this.messages.get(chat.id)?.get(id);
    if (message === undefined) return refuse(400, 'Bad Request: message to edit not found');
    if (message.from?.id !== this.bot.id) return refuse(400, "Bad Request: message can't be edited");
    const checked = this.checkedText(params);
    if ('ok' in checked) return checked;
    // An edit without reply_markup takes the keyboard off, as Telegram does.
    const checkedMarkup = checkReplyMarkup(params);
    if (!checkedMarkup.ok) return refuse(400, checkedMarkup.description);
    const markup = checkedMarkup.markup;
    if (
      checked.text === message.text &&
      JSON.stringify(checked.entities) === JSON.stringify(message.entities ?? []) &&
      JSON.stringify(markup) === JSON.stringify(message.reply_markup)
    ) {
      return refuse(400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
    }
    message.text = checked.text;
    if (checked.entities.length > 0) message.entities = checked.entities;
    else delete message.entities;
    if (markup !== undefined) message.reply_markup = markup;
    else delete message.reply_markup;
    message.edit_date = this.date();
    return ok(message);
  }

  sendChatAction(params: Params): ApiResult {
    return typeof params['action'] === 'string' && ACTIONS.has(params['action']) ? ok(true) : refuse(400, 'Bad Request: wrong parameter action in request');
  }

  deleteMessage(params: Params, chat: FakeChat): ApiResult {
    const id = int(params['message_id']);
    const chatMessages = this.messages.get(chat.id);
    if (id === undefined || chatMessages?.has(id) !== true) return refuse(400, 'Bad Request: message to delete not found');
    chatMessages.delete(id);
    return ok(true);
  }

  answerCallbackQuery(params: Params): ApiResult {
    const id = params['callback_query_id'];
    if (typeof id !== 'string' || !this.openCallbacks.delete(id)) {
      return refuse(400, 'Bad Request: query is too old and response timeout expired or query ID is invalid');
    }
    return ok(true);
  }

  /** The callback_data of the button labelled `label` (or with that data) on a stored message. */
  callbackData(chatId: number, messageId: number, label: string): string {
    const message = this.messages.get(chatId)?.get(messageId);
    if (message === undefined) throw new Error(`no message ${messageId} in chat ${chatId}`);
    const rows = (message.reply_markup as Partial<FakeInlineKeyboard> | undefined)?.inline_keyboard ?? [];
    const button = rows.flat().find((b) => b.text === label || b.callback_data === label);
    if (button?.callback_data === undefined) throw new Error(`message ${messageId} has no callback button "${label}"`);
    return button.callback_data;
  }

  /** What the bot has sent, oldest first, in one chat or all. */
  sentByBot(chatId?: number): FakeMessage[] {
    const chats = chatId === undefined ? [...this.messages.values()] : [this.messages.get(chatId) ?? new Map<number, FakeMessage>()];
    return chats.flatMap((m) => [...m.values()]).filter((m) => m.from?.id === this.bot.id);
  }
}

export { int as paramInt };
