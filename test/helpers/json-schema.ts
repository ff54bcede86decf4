import type { ExecutionContext } from 'ava';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Where the published JSON Schema of JSON mode lives (shipped in the npm package). */
export const JSON_SCHEMA_PATH = path.join(__dirname, '..', '..', 'schema', 'mychat-json.v1.schema.json');

/** The schema file as parsed JSON, for tests that look inside it. */
export const jsonSchema: { $id: string; oneOf: { $ref: string }[]; $defs: Record<string, Record<string, unknown>> } = JSON.parse(readFileSync(JSON_SCHEMA_PATH, 'utf8'));

/**
 * One strict Ajv instance with the schema compiled: strict mode turns a typo in the schema (an unknown
 * keyword, a misplaced `required`) into an error instead of a schema that silently accepts everything.
 * `date-time` is checked here because Ajv leaves formats to a plug-in; the schema's pattern fixes the shape.
 */
function compile(): { event: ValidateFunction; command: ValidateFunction } {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  ajv.addFormat('date-time', (value: string) => !Number.isNaN(Date.parse(value)));
  ajv.addSchema(jsonSchema);
  const get = (ref: string): ValidateFunction => {
    const validate = ajv.getSchema(ref);
    if (validate === undefined) throw new Error(`schema has no ${ref}`);
    return validate;
  };
  return { event: get(jsonSchema.$id), command: get(`${jsonSchema.$id}#/$defs/command`) };
}

const validators = compile();

/** Ajv's errors as one readable line each, for assertion messages. */
function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`).join('; ');
}

/** The schema's complaints about `value` as a server event (empty when it is valid). */
export function eventProblems(value: unknown): string {
  return validators.event(value) ? '' : describe(validators.event.errors);
}

/** The schema's complaints about `value` as a client command object (empty when it is valid). */
export function commandProblems(value: unknown): string {
  return validators.command(value) ? '' : describe(validators.command.errors);
}

/** Asserts that `value` (an object, or one JSON line as sent) is a valid JSON-mode event of the published schema. */
export function assertValidEvent(t: ExecutionContext, value: unknown): void {
  const object = typeof value === 'string' ? JSON.parse(value) : value;
  t.is(eventProblems(object), '', `not a valid event: ${JSON.stringify(object)}`);
}
