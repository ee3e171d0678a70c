// PATCH (RFC 7644 §3.5.2) applied to a resource's JSON with `scim-patch`: add, replace and remove,
// value paths (`emails[type eq "work"].value`, `members[value eq "x"]`), extension URNs. Pure.
import { patchBodyValidation, ScimError as PatchLibraryError, scimPatch, type ScimPatch, type ScimPatchOperation, type ScimResource as PatchTarget } from 'scim-patch';
import type { ScimResource } from './query';
import { invalidSyntax, mutability, ScimError, type ScimType } from './scim-error';
import { omit } from './values';

/** Attributes the server owns on every resource; a PATCH may not touch them. */
const SERVER_OWNED = ['id', 'meta', 'schemas'];

/** Applies a PatchOp body to a copy of `resource`; `readOnly` names more attributes it may not change. */
export function applyPatch(resource: ScimResource, body: unknown, coreSchema: string, readOnly: string[] = []): Record<string, unknown> {
  try {
    patchBodyValidation(body as ScimPatch);
  } catch (err) {
    throw libraryError(err);
  }
  const ops = (body as ScimPatch).Operations;
  const guarded = [...SERVER_OWNED, ...readOnly].map((a) => a.toLowerCase());
  for (const op of ops) {
    const touched = op.path ? [rootOf(op.path, coreSchema)] : Object.keys((op.value as object | undefined) ?? {}).map((k) => rootOf(k, coreSchema));
    const refused = touched.find((a) => guarded.includes(a.toLowerCase()));
    // An unchanged id in a path-less replace is harmless (some clients echo it).
    if (refused && !(refused === 'id' && !op.path && (op.value as { id?: unknown }).id === resource.id)) {
      throw mutability(`${refused} is read-only: it cannot be changed by PATCH.`);
    }
  }
  try {
    const patched = scimPatch(structuredClone(resource) as unknown as PatchTarget, withoutEchoedId(ops), { mutateDocument: true, treatMissingAsAdd: true });
    return patched as unknown as Record<string, unknown>;
  } catch (err) {
    throw libraryError(err);
  }
}

function withoutEchoedId(ops: ScimPatchOperation[]): ScimPatchOperation[] {
  return ops.map((op) => {
    if (op.path || !op.value || typeof op.value !== 'object' || !('id' in op.value)) return op;
    return { ...op, value: omit(op.value as Record<string, unknown>, ['id']) } as ScimPatchOperation;
  });
}

/** The top-level attribute a path names: `emails[type eq "work"].value` → emails; core URN prefixes dropped. */
function rootOf(path: string, coreSchema: string): string {
  const p = path.toLowerCase().startsWith(`${coreSchema.toLowerCase()}:`) ? path.slice(coreSchema.length + 1) : path;
  if (p.toLowerCase().startsWith('urn:')) return p;
  return p.split(/[.[]/, 1)[0];
}

function libraryError(err: unknown): ScimError {
  if (err instanceof PatchLibraryError) {
    const type = (err.scimCode as ScimType | undefined) ?? 'invalidSyntax';
    return new ScimError(400, err.message, type);
  }
  if (err instanceof ScimError) return err;
  return invalidSyntax(`The PATCH could not be applied: ${err instanceof Error ? err.message : String(err)}`);
}
