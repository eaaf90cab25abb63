import { channelConformance } from './conformance.js';
import { WhatsAppDriver } from './drivers-whatsapp.js';

channelConformance(() => new WhatsAppDriver());
