/** Settings from config.json, after Pincer merged and validated them. */
export interface CommandsConfig {
  echo_max_length: number;
}

export interface StatsFigures {
  uptimeSeconds: number;
  depth: number;
  limit: number;
  processing: number;
  failed: number;
  dead: number;
  completed: number;
}
