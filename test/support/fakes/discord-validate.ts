/**
 * Discord's form checks for the fake, with its 400 shape: code 50035 "Invalid Form Body" and
 * `errors` nested along the field's path down to `_errors: [{code, message}]`. Message
 * components: at most 5 action rows (type 1) of 1-5 buttons (type 2); a button with a style
 * 1-4 has a `custom_id` of 1-100 characters, unique in the message; labels at most 80.
 * Application commands: at most 100 chat-input commands, names 1-32 lowercase characters of
 * `[-_\p{L}\p{N}]`, unique; descriptions 1-100; at most 25 options, named by the same rule.
 */

export type FormErrors = Record<string, unknown>;
export interface FieldError {
  path: Array<string | number>;
  code: string;
  message: string;
}

/** `{a: {0: {b: {_errors: [...]}}}}` from a field error. */
export function nested(error: FieldError): FormErrors {
  let node: FormErrors = { _errors: [{ code: error.code, message: error.message }] };
  for (const key of [...error.path].reverse()) node = { [String(key)]: node };
  return node;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first problem with a message's `components`, or undefined. */
export function componentsError(components: unknown): FieldError | undefined {
  if (components === undefined || components === null) return undefined;
  if (!Array.isArray(components)) return { path: ['components'], code: 'ARRAY_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' };
  if (components.length > 5) return { path: ['components'], code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 5 or fewer in length.' };
  const ids = new Set<string>();
  for (const [r, row] of components.entries()) {
    if (!isObject(row) || row['type'] !== 1) return { path: ['components', r, 'type'], code: 'UNION_TYPE_CHOICES', message: 'Value of field "type" must be one of (1,).' };
    const children = row['components'];
    if (!Array.isArray(children) || children.length < 1 || children.length > 5) return { path: ['components', r, 'components'], code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 5 in length.' };
    for (const [b, button] of children.entries()) {
      const at = ['components', r, 'components', b];
      if (!isObject(button) || button['type'] !== 2) return { path: [...at, 'type'], code: 'UNION_TYPE_CHOICES', message: 'Value of field "type" must be one of (2,).' };
      const style = button['style'];
      if (typeof style !== 'number' || style < 1 || style > 5) return { path: [...at, 'style'], code: 'BASE_TYPE_CHOICES', message: 'Value must be one of {1, 2, 3, 4, 5}.' };
      const label = button['label'];
      if (label !== undefined && (typeof label !== 'string' || label.length > 80)) return { path: [...at, 'label'], code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 80 or fewer in length.' };
      if (style === 5) {
        if (typeof button['url'] !== 'string') return { path: [...at, 'url'], code: 'BASE_TYPE_REQUIRED', message: 'This field is required' };
        continue;
      }
      const id = button['custom_id'];
      if (typeof id !== 'string' || id.length === 0) return { path: [...at, 'custom_id'], code: 'BASE_TYPE_REQUIRED', message: 'This field is required' };
      if (id.length > 100) return { path: [...at, 'custom_id'], code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 100 or fewer in length.' };
      if (ids.has(id)) return { path: [...at, 'custom_id'], code: 'COMPONENT_CUSTOM_ID_DUPLICATED', message: 'Component custom id cannot be duplicated' };
      ids.add(id);
    }
  }
  return undefined;
}

const NAME = /^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
const nameOk = (name: unknown): name is string => typeof name === 'string' && NAME.test(name) && name === name.toLowerCase();
const lengthOk = (text: unknown, max: number): text is string => typeof text === 'string' && text.length >= 1 && text.length <= max;

/** The first problem with a bulk overwrite's body, or undefined. */
export function commandsError(body: unknown): FieldError | undefined {
  if (!Array.isArray(body)) return { path: [], code: 'ARRAY_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' };
  if (body.length > 100) return { path: [], code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 100 or fewer in length.' };
  const names = new Set<string>();
  for (const [i, command] of body.entries()) {
    if (!isObject(command)) return { path: [i], code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' };
    const type = command['type'] ?? 1;
    if (type !== 1) return { path: [i, 'type'], code: 'BASE_TYPE_CHOICES', message: 'The fake takes chat-input commands (type 1) only.' };
    if (!nameOk(command['name'])) return { path: [i, 'name'], code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Command name is invalid' };
    if (names.has(command['name'])) return { path: [i, 'name'], code: 'APPLICATION_COMMANDS_DUPLICATE_NAME', message: 'Application command names must be unique' };
    names.add(command['name']);
    if (!lengthOk(command['description'], 100)) return { path: [i, 'description'], code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' };
    const options = command['options'] ?? [];
    if (!Array.isArray(options) || options.length > 25) return { path: [i, 'options'], code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' };
    for (const [o, option] of options.entries()) {
      if (!isObject(option)) return { path: [i, 'options', o], code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' };
      const kind = option['type'];
      if (typeof kind !== 'number' || kind < 1 || kind > 11) return { path: [i, 'options', o, 'type'], code: 'BASE_TYPE_CHOICES', message: 'Value must be one of {1, ..., 11}.' };
      if (!nameOk(option['name'])) return { path: [i, 'options', o, 'name'], code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Command name is invalid' };
      if (!lengthOk(option['description'], 100)) return { path: [i, 'options', o, 'description'], code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' };
    }
  }
  return undefined;
}
