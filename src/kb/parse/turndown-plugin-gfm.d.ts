// turndown-plugin-gfm 1.0.2 ships no types; only what Pincer uses is declared.
declare module 'turndown-plugin-gfm' {
  import type TurndownService from 'turndown';

  export const tables: TurndownService.Plugin;
  export const strikethrough: TurndownService.Plugin;
  export const gfm: TurndownService.Plugin;
}
