/**
 * Which pages may use an account's web chat. The browser names the page's origin in `Origin`
 * and a page cannot forge it, so this keeps other sites from embedding the chat; a script
 * outside a browser can send any Origin, which is why the session token, not the origin,
 * guards each conversation.
 */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  if (origin === undefined || origin === '') return false;
  if (allowed.includes('*')) return true;
  // "null" is the origin of sandboxed frames and file: pages: never one a site can be named by.
  return origin !== 'null' && allowed.includes(origin);
}
