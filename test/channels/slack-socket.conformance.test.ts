import { channelConformance } from './conformance.js';
import { SlackDriver } from './drivers-slack.js';

// Socket Mode (transport: polling): envelopes over a WebSocket Pincer opens.
channelConformance(() => new SlackDriver('socket'));
