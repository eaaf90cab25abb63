import type { GenerateRequest, GenerateResult, LanguageModel, StreamPart } from './types.js';

/**
 * Model middleware in the AI SDK's shape (`LanguageModelV2Middleware`): a piece that sees every
 * call to a model and may change its request (`transformParams`), or wrap the call itself
 * (`wrapGenerate`, `wrapStream`: answer from elsewhere, look at the result, or both). The
 * response cache is one; retrieval for a knowledge base is meant to be another. Providers know
 * nothing of it.
 */
export interface LanguageModelMiddleware {
  transformParams?(options: { type: 'generate' | 'stream'; params: GenerateRequest; model: LanguageModel }): Promise<GenerateRequest> | GenerateRequest;
  wrapGenerate?(options: WrapOptions): Promise<GenerateResult>;
  wrapStream?(options: WrapOptions): AsyncIterable<StreamPart>;
}

/** What a wrapper gets: the (transformed) request, and both calls of the model it wraps. */
export interface WrapOptions {
  params: GenerateRequest;
  model: LanguageModel;
  doGenerate(): Promise<GenerateResult>;
  doStream(): AsyncIterable<StreamPart>;
}

/**
 * `model` behind `middleware`, the first one outermost (it sees the call first and the result
 * last), as the AI SDK's `wrapLanguageModel` orders an array.
 */
export function wrapLanguageModel(model: LanguageModel, middleware: readonly LanguageModelMiddleware[]): LanguageModel {
  return [...middleware].reverse().reduce(wrapOne, model);
}

function wrapOne(model: LanguageModel, middleware: LanguageModelMiddleware): LanguageModel {
  const params = async (type: 'generate' | 'stream', request: GenerateRequest): Promise<GenerateRequest> =>
    middleware.transformParams ? middleware.transformParams({ type, params: request, model }) : request;
  const options = (request: GenerateRequest): WrapOptions => ({
    params: request,
    model,
    doGenerate: () => model.doGenerate(request),
    doStream: () => model.doStream(request),
  });
  return {
    id: model.id,
    provider: model.provider,
    async doGenerate(request) {
      const transformed = await params('generate', request);
      return middleware.wrapGenerate ? middleware.wrapGenerate(options(transformed)) : model.doGenerate(transformed);
    },
    async *doStream(request) {
      const transformed = await params('stream', request);
      // yield* passes an early exit (the consumer stopping) down to the inner stream.
      yield* middleware.wrapStream ? middleware.wrapStream(options(transformed)) : model.doStream(transformed);
    },
    ...(model.warmUp && { warmUp: (signal: AbortSignal) => (model.warmUp as (signal: AbortSignal) => Promise<void>).call(model, signal) }),
  };
}
