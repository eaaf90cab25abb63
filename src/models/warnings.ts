import type { CallSetting, CallWarning, GenerateRequest } from './types.js';

/** Whether a request asks for a setting at all (`toolChoice: 'none'` asks for nothing). */
export function requested(request: GenerateRequest, setting: CallSetting): boolean {
  switch (setting) {
    case 'tools':
      return (request.tools?.length ?? 0) > 0;
    case 'toolChoice':
      return request.toolChoice !== undefined && request.toolChoice !== 'none';
    default:
      return request[setting] !== undefined;
  }
}

/** One `unsupported-setting` warning per setting the request asks for that a provider cannot honour. */
export function unsupportedSettings(request: GenerateRequest, unsupported: Partial<Record<CallSetting, string>>): CallWarning[] {
  return (Object.entries(unsupported) as Array<[CallSetting, string]>)
    .filter(([setting]) => requested(request, setting))
    .map(([setting, details]) => ({ type: 'unsupported-setting', setting, details }));
}

/** `warnings` to spread into a result: nothing when there are none. */
export function withWarnings(warnings: readonly CallWarning[]): { warnings?: CallWarning[] } {
  return warnings.length > 0 ? { warnings: [...warnings] } : {};
}
