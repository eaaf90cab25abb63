// Bundled plugins import `pincer/channel-kit` at run time. Installed from npm they find
// Pincer as node_modules/pincer; in this repository that link is made here.
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const link = path.join(root, 'node_modules', 'pincer');
if (!existsSync(link)) {
  mkdirSync(path.dirname(link), { recursive: true });
  symlinkSync('..', link, 'dir');
}
