// Node's AsyncResource.prototype.bind (20 to 24 at least) gives every bound function a deprecated
// `asyncResource` accessor (DEP0172) made of two util.deprecate wrappers, each re-prototyped with
// Object.setPrototypeOf, which V8 makes slow. Fastify binds once for every request with a body
// (its content-type parser), so every tool call paid for it: on Node 20, 15-19 µs per bind against
// 0.9 µs without the accessor, and far more in the server than that alone (V8 deoptimizes around
// re-prototyped functions): in-context tool calls, 50 gateways as fast as answered, went from
// 1,533-1,926 to 2,268-2,435 per second, from 597-725 to 454-479 µs of CPU each. This is the same
// bind without that accessor; on a Node whose bind no longer defines it, nothing is replaced.
import { AsyncResource } from 'node:async_hooks';

type Bind = (this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown) => (...args: unknown[]) => unknown;

/**
 * Where the replacement keeps Node's own bind. A registered symbol, because the prototype is the
 * process's while this module may be loaded more than once (jest loads it afresh per test file):
 * every copy must see that the bind is already replaced, and find Node's.
 */
export const NODES_OWN_BIND = Symbol.for('governance.AsyncResource.bind.nodesOwn');

function withoutDeprecatedAccessor(nodesOwn: Bind): Bind {
  const bind = function (this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown) {
    if (typeof fn !== 'function') return nodesOwn.call(this, fn, thisArg); // Node's own error
    const resource = this;
    const bound =
      thisArg === undefined
        ? function (this: unknown, ...args: unknown[]) {
            return resource.runInAsyncScope(fn, this, ...args);
          }
        : resource.runInAsyncScope.bind(resource, fn, thisArg);
    Object.defineProperty(bound, 'length', { configurable: true, enumerable: false, writable: false, value: fn.length });
    return bound;
  };
  return Object.assign(bind, { [NODES_OWN_BIND]: nodesOwn });
}

/** Replaces AsyncResource.prototype.bind once, when Node's own still builds the deprecated accessor. */
export function useCheapAsyncResourceBind(): void {
  const proto = AsyncResource.prototype as unknown as { bind: Bind };
  if (NODES_OWN_BIND in proto.bind) return;
  const probe = new AsyncResource('probe').bind(() => undefined);
  if (!Object.getOwnPropertyDescriptor(probe, 'asyncResource')) return;
  proto.bind = withoutDeprecatedAccessor(proto.bind);
}
