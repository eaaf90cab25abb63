/** JSON as Pincer stores and sends it. The plugin SDK keeps its own copy so a plugin imports nothing else. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
