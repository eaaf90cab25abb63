import { channelConformance } from './conformance.js';
import { DiscordDriver } from './drivers-discord.js';

channelConformance(() => new DiscordDriver());
