import { channelConformance } from './conformance.js';
import { SlackDriver } from './drivers-slack.js';

// The Events API: signed POSTs to the host's webhook route.
channelConformance(() => new SlackDriver('webhook'));
