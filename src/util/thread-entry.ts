import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PINCER_ROOT } from '../version.js';

/**
 * The compiled JavaScript of a worker thread's entry module. A thread needs plain JavaScript,
 * but under vitest the module starting it runs from TypeScript source, so the entry is looked
 * for beside the caller first (a build) and then in dist/ (tests after `npm run build`).
 *
 * `beside` is the entry's URL relative to the caller (`new URL('./x.js', import.meta.url)`),
 * `builtPath` its path from the package root in the build (`dist/src/.../x.js`).
 */
export function threadEntry(beside: URL, builtPath: string): URL {
  if (existsSync(fileURLToPath(beside))) return beside;
  const built = pathToFileURL(path.join(PINCER_ROOT, builtPath));
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error(`cannot find the thread entry ${fileURLToPath(beside)} (nor ${fileURLToPath(built)}); run npm run build`);
}
