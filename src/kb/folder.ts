/**
 * The knowledge folder (`kb.dir`): every file in it, recursively, is a source named
 * `kb:<path relative to the folder>`. A scan ingests what changed and deletes the sources of
 * files that are gone; a watch (fs.watch, recursive) triggers a debounced scan on any change,
 * so a burst of saves is one scan.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** Files whose names say they are not documents: editors' swap and backup files, hidden files. */
const IGNORED = /(^|\/)(\.[^/]*|[^/]*~|[^/]*\.swp|[^/]*\.tmp)$/;

export const folderUri = (relative: string) => `kb:${relative.split(path.sep).join('/')}`;

/** The folder's files, relative paths with "/", sorted; a missing folder has none. */
export async function listFolder(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      const relative = path.relative(root, full).split(path.sep).join('/');
      if (IGNORED.test(relative)) continue;
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out.push(relative);
    }
  };
  await walk(root);
  return out.sort();
}

/** The size of a file, or undefined when it is gone. */
export async function fileSize(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

/** Calls `onChange` (debounced) after anything under `root` changes. Returns a disposer. */
export function watchFolder(root: string, debounceMs: number, onChange: () => void, onError: (err: Error) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(root, { recursive: true, persistent: false }, (_event, name) => {
      if (name && IGNORED.test(String(name))) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    });
    watcher.on('error', onError);
  } catch (err) {
    onError(err as Error);
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
  };
}
