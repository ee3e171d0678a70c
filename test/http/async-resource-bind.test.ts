import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { NODES_OWN_BIND, useCheapAsyncResourceBind } from '../../src/http/async-resource-bind';

describe('AsyncResource.prototype.bind without the deprecated accessor', () => {
  // Core modules are the process's, not the test file's: another file of this jest run may have
  // replaced the bind already (createApi does), and then Node's own is kept beside it.
  const current = AsyncResource.prototype.bind as typeof AsyncResource.prototype.bind & { [NODES_OWN_BIND]?: typeof AsyncResource.prototype.bind };
  const nodesOwn = current[NODES_OWN_BIND] ?? current;
  beforeAll(() => useCheapAsyncResourceBind());

  it('replaces a bind that builds the deprecated asyncResource accessor, once', () => {
    const before = nodesOwn.call(new AsyncResource('t'), () => undefined);
    expect(typeof Object.getOwnPropertyDescriptor(before, 'asyncResource')?.get).toBe('function'); // what Node's own does here
    expect(AsyncResource.prototype.bind).not.toBe(nodesOwn);
    const installed = AsyncResource.prototype.bind;
    useCheapAsyncResourceBind();
    expect(AsyncResource.prototype.bind).toBe(installed);
    jest.isolateModules(() => {
      // A second copy of the module, as another test file or bundle would load: it too leaves it be.
      (require('../../src/http/async-resource-bind') as { useCheapAsyncResourceBind: () => void }).useCheapAsyncResourceBind();
    });
    expect(AsyncResource.prototype.bind).toBe(installed);
    expect(Object.getOwnPropertyDescriptor(new AsyncResource('t').bind(() => undefined), 'asyncResource')).toBeUndefined();
  });

  it('runs the function in the async context of the resource, not of its caller', () => {
    const als = new AsyncLocalStorage<string>();
    const resource = als.run('where the resource was made', () => new AsyncResource('t'));
    const bound = resource.bind(() => als.getStore());
    expect(als.run('where it is called', bound)).toBe('where the resource was made');
    const viaStatic = als.run('made', () => AsyncResource.bind(() => als.getStore()));
    expect(als.run('called', viaStatic)).toBe('made');
  });

  it('passes arguments and the result, keeps the call-time this or the given one, and the length', () => {
    function f(this: unknown, a: number, b: number) {
      return { self: this, sum: a + b };
    }
    const resource = new AsyncResource('t');
    const holder = { m: resource.bind(f) };
    expect(holder.m(2, 3)).toEqual({ self: holder, sum: 5 });
    const fixed = { fixed: true };
    // Node's bind takes a thisArg that @types/node does not declare (fastify passes none).
    const withThis = (resource.bind as unknown as (fn: typeof f, thisArg: unknown) => typeof f)(f, fixed);
    expect(withThis.call({ other: true }, 1, 1)).toEqual({ self: fixed, sum: 2 });
    expect(resource.bind(f).length).toBe(2);
  });

  it('refuses what is not a function with Node\'s own error', () => {
    const thrown = (bind: typeof nodesOwn) => {
      try {
        bind.call(new AsyncResource('t'), 'nope' as never);
      } catch (e) {
        // Node's errors are of the process's realm, not of this test file's, so compared by name.
        const { name, code, message } = e as Error & { code?: string };
        return { name, code, message };
      }
      throw new Error('no error');
    };
    expect(thrown(AsyncResource.prototype.bind)).toEqual(thrown(nodesOwn));
    expect(thrown(AsyncResource.prototype.bind)).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('warns about nothing', () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const bound = new AsyncResource('t').bind(() => 1);
      expect(bound()).toBe(1);
      expect((bound as unknown as Record<string, unknown>).asyncResource).toBeUndefined();
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });
});
