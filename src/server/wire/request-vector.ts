import { InvalidArgumentError } from "../../core/errors.js";
import { floatsFromUnknown, MalformedFloatsError, type UnknownField } from "../../wire/float-field.js";

/**
 * The vector a request message carries, as a Float32Array, or undefined when it carries none.
 *
 * Decoded through a shadow schema (router.ts), a binary request keeps the vector's field as unknown
 * wire bytes under its real number `no`: they are viewed in place (moved by 1-3 bytes within the request
 * when not 4-byte aligned, so the message's vector bytes are consumed). Decoded by the real schema, or from
 * JSON, the floats are in `values` and are copied once. `field` names the field in errors.
 */
export function requestVector(
  message: { readonly $unknown?: readonly UnknownField[] },
  no: number,
  values: readonly number[] | undefined,
  field: string,
): Float32Array | undefined {
  let wire: Float32Array | undefined;
  try {
    // A request is read once and never re-encoded: a misaligned vector is aligned in place.
    wire = floatsFromUnknown(message.$unknown, no, { alignInPlace: true });
  } catch (error) {
    if (error instanceof MalformedFloatsError) {
      throw new InvalidArgumentError(field, `is malformed: it ${error.message}`);
    }
    throw error;
  }
  if (wire !== undefined && values !== undefined && values.length > 0) {
    throw new InvalidArgumentError(field, "is sent twice, under two field numbers");
  }
  if (wire !== undefined) {
    return wire;
  }
  return values === undefined || values.length === 0 ? undefined : Float32Array.from(values);
}
