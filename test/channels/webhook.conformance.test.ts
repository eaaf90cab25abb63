import { channelConformance } from './conformance.js';
import { WebhookDriver } from './drivers.js';

channelConformance(() => new WebhookDriver());
