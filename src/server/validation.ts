import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * Bodies are validated as sent: `{"text": 42}` is a 400, not silently the string "42".
 * Query strings, params and headers arrive as text, so those are coerced to the schema's type.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const base: Options = { allErrors: false, removeAdditional: false, useDefaults: true, strict: true };
  const strictAjv = addFormats(new Ajv({ ...base, coerceTypes: false }));
  const coercingAjv = addFormats(new Ajv({ ...base, coerceTypes: 'array' }));
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strictAjv : coercingAjv;
    return ajv.compile(schema as object);
  };
}
