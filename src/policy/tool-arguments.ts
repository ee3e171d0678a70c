// Tool argument schemas (JSON Schema, checked by ajv): compiled once per bundle, identical
// schemas shared. `x-sensitive` is our keyword (approval cards redact such arguments).
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { canonicalJson } from '../audit/digest';

export type ArgumentsValidator = ValidateFunction;

export class ArgumentSchemas {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    // strict: unknown keywords (a typo such as `requird`) are errors, not silently ignored.
    this.ajv = new Ajv({ allErrors: true, strict: true, keywords: ['x-sensitive'] });
    addFormats(this.ajv);
  }

  /** Throws with ajv's message when the schema is not a valid JSON Schema. */
  compile(schema: Record<string, unknown>): ValidateFunction {
    const key = canonicalJson(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.compiled.set(key, validate);
    }
    return validate;
  }

  /** What is wrong with the arguments, naming each problem (never a value: arguments may be sensitive). */
  describe(errors: ErrorObject[] | null | undefined): string {
    return this.ajv.errorsText(errors, { dataVar: 'arguments' });
  }
}
