import { channelConformance } from './conformance.js';
import { TelegramDriver } from './drivers.js';

channelConformance(() => new TelegramDriver());
