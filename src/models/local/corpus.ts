/**
 * What the built-in model is trained on at start-up: for each intent, example phrasings and
 * the replies it may give. Replies are templates: {bot} is the bot's name, {version} Pincer's
 * version. Extend it by adding examples; the model retrains on every start (a few ms).
 */
export interface Intent {
  examples: readonly string[];
  replies: readonly string[];
}

export const INTENTS: Readonly<Record<string, Intent>> = {
  greeting: {
    examples: [
      'hello', 'hi', 'hey', 'hi there', 'hello there', 'hey there', 'good morning', 'good afternoon', 'good evening',
      'hiya', 'howdy', 'greetings', 'yo', 'hello bot', 'hi bot', 'hey, anyone there?', 'morning!', 'hello, nice to meet you',
    ],
    replies: ['Hello! I am {bot}. Ask me what I can do, or send /help.', 'Hi there! {bot} here. How can I help?'],
  },
  farewell: {
    examples: [
      'bye', 'goodbye', 'see you', 'see you later', 'talk to you later', 'good night', 'catch you later', 'bye bye',
      'i have to go', 'that is all for now', 'see ya', 'farewell', 'later!', 'i am leaving now',
    ],
    replies: ['Goodbye! Come back any time.', 'See you later!'],
  },
  thanks: {
    examples: [
      'thanks', 'thank you', 'thanks a lot', 'thank you so much', 'many thanks', 'cheers', 'thx', 'ty', 'much appreciated',
      'thanks for your help', 'great, thanks', 'awesome thank you', 'i appreciate it', 'thanks, that helped',
    ],
    replies: ['You are welcome!', 'Glad I could help.'],
  },
  how_are_you: {
    examples: [
      'how are you', 'how are you doing', 'how is it going', "how's it going", 'how do you feel', 'are you ok',
      "what's up", 'how have you been', 'how are things', 'you doing well?', 'how is your day', 'all good with you?',
    ],
    replies: ['I am running smoothly, thanks for asking. How can I help you?', 'All systems go! What can I do for you?'],
  },
  identity: {
    examples: [
      'who are you', 'what are you', 'what is your name', "what's your name", 'are you a bot', 'are you human',
      'are you a robot', 'who made you', 'who built you', 'introduce yourself', 'tell me about yourself', 'are you an ai',
    ],
    replies: [
      'I am {bot}, a chat bot built on Pincer {version}, an open-source framework for durable, extensible bots. I answer with a small built-in model until a language model is connected.',
    ],
  },
  capabilities: {
    examples: [
      'what can you do', 'what do you do', 'what are you able to do', 'what can i ask you', 'what are your features',
      'what are your skills', 'how can you help me', 'what is this bot for', 'what do you know', 'show me what you can do',
      'can you help me', 'what services do you offer', 'what are your capabilities', 'what commands do you have',
    ],
    replies: [
      'I can chat a little, run commands (send /help for the list), and analyse every message: its sentiment and its language. With Apertium installed, /translate en-es <text> translates. Connect a language model to answer anything else.',
    ],
  },
  help: {
    examples: [
      'help', 'i need help', 'help me', 'can you help', 'how does this work', 'how do i use this', 'i am stuck',
      'instructions please', 'what should i do', 'how do i start', 'i do not understand', 'support', 'guide me',
    ],
    replies: ['Send /help to see my commands, or ask "what can you do?". The API is documented at /docs on this server.'],
  },
  plugins: {
    examples: [
      'what are plugins', 'how do i write a plugin', 'can i extend you', 'how do i add a plugin', 'how do plugins work',
      'create a plugin', 'install a plugin', 'can i add features', 'how to extend the bot', 'plugin system',
      'reload a plugin', 'add my own command',
    ],
    replies: [
      'Plugins add analyzers, commands, responders and HTTP routes while I run. Create one with `pincer plugin new <name>`, install it with `pincer plugin install <folder>`; no restart needed. See docs/plugins.md.',
    ],
  },
  reliability: {
    examples: [
      'will my messages get lost', 'is this reliable', 'what happens if you crash', 'do you lose messages',
      'how durable are you', 'what if the server restarts', 'are messages persisted', 'what is the queue',
      'how does the queue work', 'is it fast', 'how fast are you', 'how many messages can you handle',
      'tell me about the queue', 'explain the message queue', 'tell me about reliability', 'what about durability',
    ],
    replies: [
      'Every message is written to a durable queue before it is acknowledged, then answered by concurrent workers with retries and dead letters. A crash or restart loses nothing that was accepted.',
    ],
  },
  connect_llm: {
    examples: [
      'how do i connect a model', 'can you use openai', 'connect an llm', 'use gpt', 'add an api key', 'configure a language model',
      'use ollama', 'can you use claude', 'switch to a real model', 'how do i use a local model', 'set up an llm', 'use gemini',
    ],
    replies: [
      'Set a provider in the configuration: an API key (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY), OLLAMA_HOST for Ollama, or MODEL_PATH for a local GGUF file. See docs/models.md.',
    ],
  },
  joke: {
    examples: [
      'tell me a joke', 'say something funny', 'make me laugh', 'do you know any jokes', 'joke please', 'another joke',
      'be funny', 'cheer me up', 'got any jokes', 'i am bored',
    ],
    replies: [
      'Why did the message queue go to therapy? It had too many unresolved issues, but it acknowledged every one of them.',
      'I would tell you a UDP joke, but you might not get it.',
    ],
  },
  praise: {
    examples: [
      'i love this bot', 'i love you', 'you are great', 'you are awesome', 'this is amazing', 'great bot', 'nice work',
      'good job', 'well done', 'you are really helpful', 'you are so friendly', 'i like you', 'this bot is cool', 'you rock',
      'this is really helpful', 'love it',
    ],
    replies: ['Thank you, that is kind of you! Is there anything I can do for you?', 'Glad you like it! What would you like to do next?'],
  },
  complaint: {
    examples: [
      'you are useless', 'this is terrible', 'you are stupid', 'i hate this bot', 'this does not work', 'you are wrong',
      'that was not helpful', 'bad bot', 'this is annoying', 'you are slow', 'that answer is bad', 'worst bot ever',
    ],
    replies: [
      'Sorry about that. I am a small built-in model and know only a little: send /help for what I can do, or connect a language model for real conversations (docs/models.md).',
    ],
  },
  affirm: {
    examples: ['yes', 'yeah', 'yep', 'sure', 'ok', 'okay', 'of course', 'right', 'correct', 'sounds good', 'alright', 'absolutely'],
    replies: ['Great. What would you like to do next?'],
  },
  deny: {
    examples: ['no', 'nope', 'nah', 'not really', 'no thanks', 'never mind', 'forget it', 'not now', 'no way', 'wrong'],
    replies: ['No problem. Let me know if you need anything.'],
  },
};

/** Said when the model is not confident enough to pick an intent. */
export const FALLBACK_REPLY =
  'I am a small built-in model, and I am not sure what you mean. I can greet you, tell you what I can do, run commands (send /help), and explain plugins and the queue. To answer anything else, connect a language model: see docs/models.md (set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, OLLAMA_HOST or MODEL_PATH).';
